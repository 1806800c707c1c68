"""The shared plumbing against the real database and broker, without the services.

Proves: the outbox publishes what a committed transaction wrote and nothing from a rolled-back one,
at once (a commit wakes the relay: in-process where it leads, by NOTIFY where it does not);
durable timers fire exactly once even with two workers racing, and a backlog fires without waiting
for the next poll; a failing timer, or one whose payload no longer parses, is retried, then parked,
never lost; the inbox, claimed in a
unit of work's last statement, rolls a repeat back whole; the pool resets a connection's session on
release only where it was marked changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import asyncpg
import pytest

from frontdesk.common import inbox, outbox, timers
from frontdesk.common.cloudevents import TraceContext
from frontdesk.common.contracts import ReviewRequested
from frontdesk.common.db import create_pool, ensure_database, migrate, session_changed
from frontdesk.common.kafka import make_producer
from frontdesk.common.outbox import OutboxRelay
from frontdesk.common.timer_payloads import TimerPayload
from frontdesk.common.timers import Timer, TimerWorker
from frontdesk.common.uow import UnitOfWork, transaction
from frontdesk.testing.helpers import uid
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap


@pytest.fixture
async def pool(stack: LocalStack) -> AsyncIterator[asyncpg.Pool]:
    name = "frontdesk_plumbing_test"
    await ensure_database(stack.server_database_url, name)
    pool = await create_pool(stack.database_url_named(name))
    await migrate(pool, None)
    try:
        yield pool
    finally:
        await pool.close()


class _Never(TimerPayload):
    """A timer no worker here fires (none handles its kind)."""

    kind: ClassVar[str] = "none"


def _review(visit: str) -> ReviewRequested:
    return ReviewRequested(
        review_request_id=f"rr-{visit}",
        visit_id=visit,
        patient_id="pat-1",
        clinic_id="c-1",
        provider_id="dr-1",
        send_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


async def test_outbox_publishes_committed_events_only(stack: LocalStack, pool: asyncpg.Pool) -> None:
    committed, rolled_back = uid("visit"), uid("visit")
    async with pool.acquire() as conn:
        async with transaction(conn, "tests/outbox", TraceContext.new()) as uow:
            await uow.emit(_review(committed))
        with pytest.raises(RuntimeError):
            async with transaction(conn, "tests/outbox", TraceContext.new()) as uow:
                await uow.emit(_review(rolled_back))
                raise RuntimeError("the handler failed after emitting")
    producer = make_producer(stack.bootstrap, "tests-outbox")
    await producer.start()
    try:
        async with EventTap(stack.bootstrap, ["review.requested"]) as tap:
            async with pool.acquire() as conn:
                published = await OutboxRelay(pool, producer, "tests").drain(conn)
            await tap.wait_for(lambda e: e.data.visit_id == committed)  # type: ignore[attr-defined]
            await tap.settle(1.0)
    finally:
        await producer.stop()
    visits = [e.data.visit_id for e in tap.events]  # type: ignore[attr-defined]
    assert committed in visits and rolled_back not in visits
    assert published >= 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_outbox_keeps_commit_order_per_key(stack: LocalStack, pool: asyncpg.Pool) -> None:
    visits = [uid("visit") for _ in range(50)]
    async with pool.acquire() as conn:
        for visit in visits:
            async with transaction(conn, "tests/outbox", TraceContext.new()) as uow:
                await uow.emit(_review(visit))
    producer = make_producer(stack.bootstrap, "tests-outbox")
    await producer.start()
    try:
        async with EventTap(stack.bootstrap, ["review.requested"]) as tap:
            relay = OutboxRelay(pool, producer, "tests", batch_size=7)
            task = asyncio.create_task(relay.run())
            await tap.wait_for(lambda e: e.data.visit_id in visits, count=len(visits))  # type: ignore[attr-defined]
            relay.stop()
            await asyncio.wait_for(task, 10)
    finally:
        await producer.stop()
    seen = [e.data.visit_id for e in tap.events if e.data.visit_id in visits]  # type: ignore[attr-defined]
    assert seen == visits  # all have key pat-1: one partition, commit order


async def test_a_commit_wakes_the_relay_in_process_where_it_leads_and_by_notify_elsewhere(
    stack: LocalStack, pool: asyncpg.Pool
) -> None:
    """With an hour-long poll, committed events still go out at once. A unit of work of the service
    whose relay leads in this process wakes it after its commit and sends no NOTIFY (a NOTIFY makes
    PostgreSQL commit notifying transactions one at a time); one of a service whose relay leads in
    another process (here: another source) NOTIFYs it."""
    here, elsewhere = uid("visit"), uid("visit")
    listener = await asyncpg.connect(stack.database_url_named("frontdesk_plumbing_test"))
    notified: list[str] = []
    await listener.add_listener("outbox", lambda *args: notified.append(args[2]))
    producer = make_producer(stack.bootstrap, "tests-outbox")
    await producer.start()
    relay = OutboxRelay(pool, producer, "tests", source="tests/leader", poll_seconds=3600)
    task = asyncio.create_task(relay.run())
    try:
        async with EventTap(stack.bootstrap, ["review.requested"]) as tap:
            deadline = asyncio.get_running_loop().time() + 30
            while not outbox.leads_here("tests/leader"):
                assert asyncio.get_running_loop().time() < deadline, "the relay never led"
                await asyncio.sleep(0.05)
            async with pool.acquire() as conn, transaction(conn, "tests/leader", TraceContext.new()) as uow:
                await uow.emit(_review(here))
            await tap.wait_for(lambda e: e.data.visit_id == here)  # type: ignore[attr-defined]
            await listener.fetchval("SELECT 1")  # a notification sent before this would have arrived
            assert notified == []
            async with pool.acquire() as conn, transaction(conn, "tests/elsewhere", TraceContext.new()) as uow:
                await uow.emit(_review(elsewhere))
            await tap.wait_for(lambda e: e.data.visit_id == elsewhere)  # type: ignore[attr-defined]
        await listener.fetchval("SELECT 1")
        assert notified
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await producer.stop()
        await listener.close()


def _kind() -> type[TimerPayload]:
    """A payload model of a kind of the test's own: its worker fires no other test's timers."""

    class Payload(TimerPayload):
        kind: ClassVar[str] = uid("kind")

    return Payload


async def _set_due(pool: asyncpg.Pool, keys: list[str], model: type[TimerPayload], due_at: datetime) -> None:
    async with pool.acquire() as conn, transaction(conn, "tests/timers", TraceContext.new()) as uow:
        for key in keys:
            await uow.set_timer(key, due_at, model())


@asynccontextmanager
async def _running(*workers: TimerWorker) -> AsyncIterator[None]:
    """The workers as in production (`run`), stopped once their in-flight timers are done."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield
    finally:
        for w in workers:
            w.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


async def _until(done: Callable[[], Awaitable[bool]], what: Callable[[], str], seconds: float = 60) -> None:
    """Wait until `done()`; fail with `what()` if it takes longer than `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, what()
        await asyncio.sleep(0.05)


async def test_two_timer_workers_fire_each_timer_exactly_once(pool: asyncpg.Pool) -> None:
    run, model = uid("t"), _kind()
    await pool.execute("CREATE TABLE IF NOT EXISTS timer_effects (timer_key text PRIMARY KEY, worker text)")
    await _set_due(pool, [f"{run}-{n}" for n in range(60)], model, datetime.now(UTC) - timedelta(seconds=1))
    calls: list[str] = []

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def handle(timer: Timer[TimerPayload], uow: UnitOfWork) -> None:
            calls.append(timer.key)
            # A primary key violation here would mean the timer fired twice.
            await uow.conn.execute("INSERT INTO timer_effects VALUES ($1, $2)", timer.key, worker)
            await asyncio.sleep(0.005)

        return handle

    async def effects() -> int:
        return int(await pool.fetchval("SELECT count(*) FROM timer_effects WHERE starts_with(timer_key, $1)", run))

    async def all_fired() -> bool:
        return await effects() == 60

    workers = [TimerWorker(pool, "tests", {model: handler(f"w{i}")}) for i in range(2)]
    async with _running(*workers):
        await _until(all_fired, lambda: f"{len(calls)} handled")
    assert await effects() == 60 and len(calls) == 60  # each handled once, none failed
    assert await pool.fetchval("SELECT count(*) FROM timers WHERE starts_with(timer_key, $1)", run) == 0


async def test_a_timer_worker_fires_as_many_timers_at_once_as_its_concurrency(pool: asyncpg.Pool) -> None:
    """Timers that wait on someone else (followup's sends wait on the SMS provider) run side by side:
    four that each wait until all four have started can only finish on four connections at once."""
    run, model = uid("t"), _kind()
    await _set_due(pool, [f"{run}-{n}" for n in range(4)], model, datetime.now(UTC) - timedelta(seconds=1))
    started: set[str] = set()
    all_started = asyncio.Event()
    fired: list[str] = []

    async def wait_for_the_others(timer: Timer[TimerPayload], uow: UnitOfWork) -> None:
        started.add(timer.key)
        if len(started) == 4:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), timeout=30)
        fired.append(timer.key)

    async def four_fired() -> bool:
        return len(fired) == 4

    async with _running(TimerWorker(pool, "tests", {model: wait_for_the_others}, concurrency=4)):
        await _until(four_fired, lambda: f"{len(started)} started, {len(fired)} fired")
    assert sorted(fired) == [f"{run}-{n}" for n in range(4)]
    assert await pool.fetchval("SELECT count(*) FROM timers WHERE starts_with(timer_key, $1)", run) == 0


async def test_the_timer_worker_fires_a_backlog_without_pausing_and_wakes_for_the_next_due(
    pool: asyncpg.Pool,
) -> None:
    """With an hour-long poll interval, a backlog of 250 timers and a timer due in 2 s still
    all fire: the worker never sleeps while timers are due, and then only until the next one."""
    run, model = uid("t"), _kind()
    now = datetime.now(UTC)
    await _set_due(pool, [f"{run}-{n}" for n in range(250)], model, now - timedelta(seconds=1))
    await _set_due(pool, [f"{run}-soon"], model, now + timedelta(seconds=2))
    fired: list[str] = []

    async def handle(timer: Timer[TimerPayload], uow: UnitOfWork) -> None:
        fired.append(timer.key)

    async def all_fired() -> bool:
        return len(fired) >= 251

    async with _running(TimerWorker(pool, "tests", {model: handle}, poll_seconds=3600)):
        await _until(all_fired, lambda: f"only {len(fired)} of 251 fired")
    assert sorted(fired) == sorted([f"{run}-{n}" for n in range(250)] + [f"{run}-soon"])


async def _fire_next(worker: TimerWorker, pool: asyncpg.Pool) -> None:
    """One turn of one of the worker's loops, as `run` takes it: wait for a due timer and fire it."""
    async with pool.acquire() as conn:
        await asyncio.wait_for(worker._take_turn(conn), timeout=30)


async def test_a_failing_timer_is_retried_then_parked_not_lost(pool: asyncpg.Pool) -> None:
    key, model = uid("t"), _kind()
    await _set_due(pool, [key], model, datetime.now(UTC) - timedelta(seconds=1))

    async def fail(timer: Timer[TimerPayload], uow: UnitOfWork) -> None:
        raise ValueError("downstream said no")

    worker = TimerWorker(pool, "tests", {model: fail}, max_attempts=2)
    await _fire_next(worker, pool)
    row = await pool.fetchrow("SELECT attempts, last_error, dead_at, due_at FROM timers WHERE timer_key = $1", key)
    assert row["attempts"] == 1 and "downstream said no" in row["last_error"] and row["dead_at"] is None
    assert row["due_at"] > datetime.now(UTC)  # retried later, with backoff
    await pool.execute("UPDATE timers SET due_at = now() WHERE timer_key = $1", key)
    await _fire_next(worker, pool)
    row = await pool.fetchrow("SELECT attempts, dead_at FROM timers WHERE timer_key = $1", key)
    assert row["attempts"] == 2 and row["dead_at"] is not None  # parked for an operator, still there


class _Log:
    """Stands in for the timer worker's logger: what it was told, as text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _record(self, event: str, **fields: object) -> None:
        self.lines.append(f"{event} {fields}")

    error = exception = warning = info = _record


async def test_a_payload_that_no_longer_parses_fails_its_timer_and_is_parked_without_its_values(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored payload its kind's model refuses (here a field the model does not have, holding a
    name) is a failed timer: retried, then parked, never handled and never dropped. Neither the log
    nor the stored error shows the values."""
    key, model = uid("t"), _kind()
    await pool.execute(
        "INSERT INTO timers (timer_key, kind, due_at, payload) VALUES ($1, $2, now() - interval '1 second', $3)",
        key,
        model.kind,
        {"patient_name": "Jane Roe"},
    )
    handled: list[str] = []

    async def handle(timer: Timer[TimerPayload], uow: UnitOfWork) -> None:
        handled.append(timer.key)

    log = _Log()
    monkeypatch.setattr(timers, "log", log)
    worker = TimerWorker(pool, "tests", {model: handle}, max_attempts=2)
    await _fire_next(worker, pool)
    await pool.execute("UPDATE timers SET due_at = now() WHERE timer_key = $1", key)
    await _fire_next(worker, pool)
    row = await pool.fetchrow("SELECT attempts, last_error, dead_at FROM timers WHERE timer_key = $1", key)
    assert not handled and row["attempts"] == 2 and row["dead_at"] is not None
    assert f"the payload of a {model.kind} timer does not parse: patient_name: extra_forbidden" in row["last_error"]
    assert len(log.lines) == 2 and all("timer payload does not parse" in line for line in log.lines)
    assert not any("Jane" in text for text in [*log.lines, row["last_error"]])


_DIGEST = b"the content"


async def test_inbox_claims_an_event_once_and_rolls_a_repeat_back_whole(pool: asyncpg.Pool) -> None:
    event_id = uid("evt")
    emitted: list[str] = []

    async def handle(conn: asyncpg.Connection, claim: inbox.Claim, visit: str) -> None:
        async with transaction(conn, "tests/inbox", TraceContext.new(), claim=claim) as uow:
            emitted.append(await uow.emit(_review(visit)))
            await uow.set_timer(f"inbox-{visit}", datetime(2030, 1, 1, tzinfo=UTC), _Never())

    first, repeat, other = uid("visit"), uid("visit"), uid("visit")
    async with pool.acquire() as conn:
        await handle(conn, inbox.Claim("tests", "src", event_id, _DIGEST), first)
        with pytest.raises(inbox.AlreadyProcessed):
            await handle(conn, inbox.Claim("tests", "src", event_id, _DIGEST), repeat)
        await handle(conn, inbox.Claim("tests", "other-src", event_id, _DIGEST), other)  # source + id identify one
        assert await inbox.seen(conn, inbox.Claim("tests", "src", event_id, _DIGEST))
        assert not await inbox.seen(conn, inbox.Claim("tests", "src", uid("evt"), _DIGEST))
        with pytest.raises(inbox.ReusedId):  # processed before, with other content
            await inbox.seen(conn, inbox.Claim("tests", "src", event_id, b"other content"))
        outbox = {
            r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox WHERE event_id = ANY($1)", emitted)
        }
        timer_keys = {r["timer_key"] for r in await conn.fetch("SELECT timer_key FROM timers WHERE kind = 'none'")}
    assert outbox == {emitted[0], emitted[2]}  # the repeat's event rolled back with it
    assert {f"inbox-{first}", f"inbox-{other}"} <= timer_keys and f"inbox-{repeat}" not in timer_keys


async def test_claiming_many_skips_true_repeats_and_refuses_an_id_reused_for_other_content(pool: asyncpg.Pool) -> None:
    """inbox.claim_many (the batch consumer's): the events claimed now; a repeat with the same content is
    skipped, one with other content raises ReusedId (its batch then goes one record at a time)."""
    source = uid("src")

    def claim(event_id: str, digest: bytes = _DIGEST) -> inbox.Claim:
        return inbox.Claim("tests", source, event_id, digest)

    async with pool.acquire() as conn:
        async with conn.transaction():
            assert await inbox.claim_many(conn, [claim("a"), claim("b")]) == {(source, "a"), (source, "b")}
        async with conn.transaction():
            assert await inbox.claim_many(conn, [claim("a"), claim("c")]) == {(source, "c")}
        with pytest.raises(inbox.ReusedId):
            async with conn.transaction():
                await inbox.claim_many(conn, [claim("d"), claim("b", b"other content")])
        assert not await inbox.seen(conn, claim("d"))  # rolled back with the batch


async def test_a_handler_statement_can_claim_the_event_and_the_flush_then_claims_nothing(pool: asyncpg.Pool) -> None:
    """inbox.claiming and UnitOfWork.take_claim: the hot path's first statement claims the event (a
    repeat raises there and rolls back whole); the flush, with nothing queued, sends no statement."""
    claim = inbox.Claim("tests", "src", uid("evt"), _DIGEST)
    marker = uid("claimed")

    async def handle(conn: asyncpg.Connection) -> None:
        async with transaction(conn, "tests/inbox", TraceContext.new(), claim=claim) as uow:
            taken = uow.take_claim()
            assert taken == claim and uow.take_claim() is None
            row = await conn.fetchrow(inbox.claiming("SELECT $1::text AS marker", 2), marker, *taken.args())
            assert row is not None and row["marker"] == marker
            if not row["claimed"]:
                raise inbox.AlreadyProcessed(taken.event_id)
            await conn.execute("INSERT INTO timer_effects VALUES ($1, 'claimed')", marker)

    await pool.execute("CREATE TABLE IF NOT EXISTS timer_effects (timer_key text PRIMARY KEY, worker text)")
    async with pool.acquire() as conn:
        await handle(conn)
        with pytest.raises(inbox.AlreadyProcessed):
            await handle(conn)
        assert await conn.fetchval("SELECT count(*) FROM timer_effects WHERE timer_key = $1", marker) == 1
        assert await inbox.seen(conn, claim)


async def test_the_pool_resets_a_session_only_where_it_was_marked_changed(stack: LocalStack) -> None:
    """asyncpg resets every connection it takes back, one more round trip per use; ours resets the
    sessions marked changed (a SET, LISTEN, a session lock) and hands the others straight back."""
    name = "frontdesk_plumbing_test"
    await ensure_database(stack.server_database_url, name)
    one = await create_pool(stack.database_url_named(name), size=1)
    sent: list[str] = []
    try:
        async with one.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.execute("SELECT 1")
        assert sent == ["SELECT 1"], "an unchanged session came back with a reset"
        async with one.acquire() as conn:  # the same connection: the pool holds one
            session_changed(conn)
            await conn.execute("SET application_name = 'changed'")
        assert "RESET ALL" in sent[-1]
        async with one.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") != "changed"
    finally:
        await one.close()
