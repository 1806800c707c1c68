"""Events that waited for their clinic's configuration (frontdesk.common.awaiting), handed to their
handler once it arrives, against the real broker and database.

Proves: a waiting event whose handler fails on replay does not hold up its clinic's other waiting
events; it is retried with backoff, then dead-lettered with its reason, like a live record, and
nothing is lost (its dead letter, replayed, is handled); a database outage during the replay is
waited out, not dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import asyncpg

from frontdesk.common import awaiting
from frontdesk.common.clinics import project_clinic, require_clinic
from frontdesk.common.consumer import EventConsumer, Handler
from frontdesk.common.contracts import ClinicConfig, ClinicConfigured, Event, ReviewRequested
from frontdesk.common.kafka import make_producer
from frontdesk.common.outbox import OutboxRelay
from frontdesk.common.timer_payloads import AwaitingClinicTimer
from frontdesk.common.timers import TimerWorker
from frontdesk.common.uow import UnitOfWork
from frontdesk.testing.helpers import send_events, send_raw, uid
from frontdesk.testing.plumbing import consumer_settings, database_fixture, review
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap

DATABASE = "frontdesk_awaiting_test"
WAIT = 60.0


pool = database_fixture(DATABASE, "CREATE TABLE IF NOT EXISTS awaiting_handled (visit_id text PRIMARY KEY)")


def _clinic(clinic_id: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Late Clinic",
            "timezone": "Asia/Kolkata",
            "phone": {"answering_service": "test-vendor"},
        }
    )


@asynccontextmanager
async def _service(stack: LocalStack, pool: asyncpg.Pool, handler: Handler) -> AsyncIterator[None]:
    """What Service.start runs of the plumbing: the consumer (handlers wrapped by awaiting), the
    awaiting-clinic timer and the outbox relay."""
    settings = consumer_settings(stack, DATABASE, max_attempts=3)
    own: Mapping[type[Event], Handler] = {ClinicConfigured: project_clinic, ReviewRequested: handler}
    handlers = awaiting.wrap(own)
    producer = make_producer(stack.bootstrap, client_id="tests-awaiting")
    await producer.start()
    consumer = EventConsumer(settings, pool, producer, handlers)
    worker = TimerWorker(
        pool, settings.service, {AwaitingClinicTimer: awaiting.replayer(handlers, settings)}, poll_seconds=0.1
    )
    relay = OutboxRelay(pool, producer, settings.service, source=f"frontdesk/{settings.service}", poll_seconds=0.1)
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(relay.run())]
    await consumer.start()
    try:
        yield
    finally:
        await consumer.stop(timeout=5)
        worker.stop()
        relay.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await producer.stop()


async def _until(condition: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        assert time.monotonic() < deadline, f"never: {condition}"
        await asyncio.sleep(0.1)


async def _until_waiting(pool: asyncpg.Pool, clinic: str, count: int) -> None:
    async def all_waiting() -> bool:
        waiting = await pool.fetchval("SELECT count(*) FROM awaiting_clinic WHERE clinic_id = $1", clinic)
        return bool(waiting == count)

    await _until(f"{count} events wait for the clinic", all_waiting)


async def test_a_waiting_event_that_fails_is_dead_lettered_while_its_clinics_others_are_handled(
    stack: LocalStack, pool: asyncpg.Pool
) -> None:
    clinic = uid("late-clinic")
    first, bad, outage, last = (uid("visit") for _ in range(4))
    refused = {bad}
    cut = {outage}  # its handler's connection is cut once, on the replay

    async def handle(event: ReviewRequested, uow: UnitOfWork) -> None:
        if event.clinic_id != clinic:
            return  # the topic holds other tests' records too
        await require_clinic(uow.conn, clinic)
        if event.visit_id in refused:
            raise RuntimeError("this visit cannot be handled")
        if event.visit_id in cut:
            cut.discard(event.visit_id)
            await uow.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await uow.conn.execute("INSERT INTO awaiting_handled VALUES ($1)", event.visit_id)

    async def handled() -> set[str]:
        rows = await pool.fetch("SELECT visit_id FROM awaiting_handled WHERE visit_id = ANY($1)", [*visits])
        return {r["visit_id"] for r in rows}

    visits = [first, bad, outage, last]
    async with (
        _service(stack, pool, handle),
        EventTap(stack.bootstrap, ["review.requested.dlq"], from_beginning=True) as dlq,
    ):
        ids = dict(zip(visits, await send_events(stack.bootstrap, [review(clinic, v) for v in visits]), strict=True))

        await _until_waiting(pool, clinic, len(visits))
        await publish(stack.bootstrap, [_clinic(clinic)])

        async def the_rest_handled_and_bad_dead_lettered() -> bool:
            await dlq.poll(0.1)
            return await handled() == {first, outage, last} and any(
                dict(r.headers).get("ce_id") == ids[bad].encode() for r in dlq.raw
            )

        await _until("the others handled and the failing one dead-lettered", the_rest_handled_and_bad_dead_lettered)
        [letter] = [r for r in dlq.raw if dict(r.headers).get("ce_id") == ids[bad].encode()]
        headers = dict(letter.headers)
        assert headers["dlq_reason"].decode().endswith("RuntimeError: this visit cannot be handled")
        assert headers["dlq_attempts"] == b"3"  # retried like a live record; the outage was no attempt
        assert await pool.fetchval("SELECT count(*) FROM awaiting_clinic WHERE clinic_id = $1", clinic) == 0

        # Nothing is lost: the dead letter replayed as docs/operations.md says is handled.
        refused.clear()
        original = [(k, v) for k, v in letter.headers if not k.startswith("dlq_")]
        await send_raw(stack.bootstrap, [("review.requested", letter.key, letter.value, original)])

        async def all_handled() -> bool:
            return await handled() == set(visits)

        await _until("the dead letter replayed is handled", all_handled)


async def test_a_waiting_event_that_no_longer_decodes_is_dead_lettered_at_once_and_holds_up_nobody(
    stack: LocalStack, pool: asyncpg.Pool
) -> None:
    """Its contract changed while it waited (a deploy in between), or its type left the registry: no
    retry can hand it over. It is dead-lettered with the reason, and the clinic's others are handled."""
    clinic = uid("late-clinic")
    misfit, gone, fine = (uid("visit") for _ in range(3))

    async def handle(event: ReviewRequested, uow: UnitOfWork) -> None:
        if event.clinic_id == clinic:
            await require_clinic(uow.conn, clinic)
            await uow.conn.execute("INSERT INTO awaiting_handled VALUES ($1)", event.visit_id)

    visits = [misfit, gone, fine]
    async with (
        _service(stack, pool, handle),
        EventTap(stack.bootstrap, ["review.requested.dlq"], from_beginning=True) as dlq,
    ):
        ids = dict(zip(visits, await send_events(stack.bootstrap, [review(clinic, v) for v in visits]), strict=True))

        await _until_waiting(pool, clinic, len(visits))
        await pool.execute("UPDATE awaiting_clinic SET data = data - 'send_at' WHERE event_id = $1", ids[misfit])
        await pool.execute("UPDATE awaiting_clinic SET event_type = 'review.retired' WHERE event_id = $1", ids[gone])
        await publish(stack.bootstrap, [_clinic(clinic)])

        def letters() -> dict[str, dict[str, bytes]]:
            by_id = {dict(r.headers).get("ce_id", b"").decode(): dict(r.headers) for r in dlq.raw}
            return {v: by_id[ids[v]] for v in (misfit, gone) if ids[v] in by_id}

        async def fine_handled_and_the_others_dead_lettered() -> bool:
            await dlq.poll(0.1)
            handled = await pool.fetchval("SELECT count(*) FROM awaiting_handled WHERE visit_id = $1", fine)
            return bool(handled == 1 and len(letters()) == 2)

        await _until("the fine one handled, the others dead-lettered", fine_handled_and_the_others_dead_lettered)
        dead = letters()
        assert dead[misfit]["dlq_attempts"] == b"1" and b"send_at: missing" in dead[misfit]["dlq_reason"]
        assert dead[gone]["dlq_attempts"] == b"1" and b"review.retired" in dead[gone]["dlq_reason"]
        assert await pool.fetchval("SELECT count(*) FROM awaiting_clinic WHERE clinic_id = $1", clinic) == 0
