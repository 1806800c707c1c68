"""The shared plumbing against the real database and broker, without the services.

Proves: the outbox publishes what a committed transaction wrote and nothing from a rolled-back one,
at once (a commit wakes the relay: in-process where it leads, by NOTIFY where it does not);
durable timers fire exactly once even with two workers racing, and a backlog fires without waiting
for the next poll; a failing timer is retried, then parked, never lost; the inbox, claimed in a
unit of work's last statement, rolls a repeat back whole; the pool resets a connection's session on
release only where it was marked changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from frontdesk.common import inbox, outbox
from frontdesk.common.cloudevents import TraceContext
from frontdesk.common.contracts import ReviewRequested
from frontdesk.common.db import create_pool, ensure_database, migrate, session_changed
from frontdesk.common.kafka import make_producer
from frontdesk.common.outbox import OutboxRelay
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


async def test_two_timer_workers_fire_each_timer_exactly_once(pool: asyncpg.Pool) -> None:
    run = uid("t")
    await pool.execute("CREATE TABLE IF NOT EXISTS timer_effects (timer_key text PRIMARY KEY, worker text)")
    async with pool.acquire() as conn, transaction(conn, "tests/timers", TraceContext.new()) as uow:
        for n in range(60):
            await uow.set_timer(f"{run}-{n}", "effect", datetime.now(UTC) - timedelta(seconds=1), {"n": n})

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def handle(timer: Timer, uow: UnitOfWork) -> None:
            # A primary key violation here would mean the timer fired twice.
            await uow.conn.execute("INSERT INTO timer_effects VALUES ($1, $2)", timer.key, worker)
            await asyncio.sleep(0.005)

        return handle

    workers = [TimerWorker(pool, "tests", {"effect": handler(f"w{i}")}) for i in range(2)]
    fired = await asyncio.gather(*(w.fire_due(limit=1000) for w in workers))
    rows = await pool.fetch("SELECT worker FROM timer_effects WHERE timer_key LIKE $1", f"{run}-%")
    assert len(rows) == 60 and sum(fired) == 60
    assert await pool.fetchval("SELECT count(*) FROM timers WHERE timer_key LIKE $1", f"{run}-%") == 0


async def test_a_timer_worker_fires_as_many_timers_at_once_as_its_concurrency(pool: asyncpg.Pool) -> None:
    """Timers that wait on someone else (followup's sends wait on the SMS provider) run side by side:
    four that each wait until all four have started can only finish on four connections at once."""
    run = uid("t")
    kind = f"waiting-{run}"
    async with pool.acquire() as conn, transaction(conn, "tests/timers", TraceContext.new()) as uow:
        for n in range(4):
            await uow.set_timer(f"{run}-{n}", kind, datetime.now(UTC) - timedelta(seconds=1), {})
    started: set[str] = set()
    all_started = asyncio.Event()
    fired: list[str] = []

    async def wait_for_the_others(timer: Timer, uow: UnitOfWork) -> None:
        started.add(timer.key)
        if len(started) == 4:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), timeout=30)
        fired.append(timer.key)

    worker = TimerWorker(pool, "tests", {kind: wait_for_the_others}, concurrency=4)
    running = asyncio.create_task(worker.run())
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(fired) < 4:
            assert asyncio.get_running_loop().time() < deadline, f"{len(started)} started, {len(fired)} fired"
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    assert sorted(fired) == [f"{run}-{n}" for n in range(4)]
    assert await pool.fetchval("SELECT count(*) FROM timers WHERE starts_with(timer_key, $1)", run) == 0


async def test_the_timer_worker_fires_a_backlog_without_pausing_and_wakes_for_the_next_due(
    pool: asyncpg.Pool,
) -> None:
    """With an hour-long poll interval, a backlog larger than one batch and a timer due in 2 s still
    all fire: the worker never sleeps while timers are due, and then only until the next one."""
    run = uid("t")
    kind = f"backlog-{run}"
    now = datetime.now(UTC)
    async with pool.acquire() as conn, transaction(conn, "tests/timers", TraceContext.new()) as uow:
        for n in range(250):
            await uow.set_timer(f"{run}-{n}", kind, now - timedelta(seconds=1), {})
        await uow.set_timer(f"{run}-soon", kind, now + timedelta(seconds=2), {})
    fired: list[str] = []

    async def handle(timer: Timer, uow: UnitOfWork) -> None:
        fired.append(timer.key)

    worker = TimerWorker(pool, "tests", {kind: handle}, poll_seconds=3600)
    running = asyncio.create_task(worker.run())
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(fired) < 251:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(fired)} of 251 fired"
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    assert sorted(fired) == sorted([f"{run}-{n}" for n in range(250)] + [f"{run}-soon"])


async def test_a_failing_timer_is_retried_then_parked_not_lost(pool: asyncpg.Pool) -> None:
    key = uid("t")
    async with pool.acquire() as conn, transaction(conn, "tests/timers", TraceContext.new()) as uow:
        await uow.set_timer(key, "flaky", datetime.now(UTC) - timedelta(seconds=1), {})

    async def fail(timer: Timer, uow: UnitOfWork) -> None:
        raise ValueError("downstream said no")

    worker = TimerWorker(pool, "tests", {"flaky": fail}, max_attempts=2)
    assert await worker.fire_due() == 0
    row = await pool.fetchrow("SELECT attempts, last_error, dead_at, due_at FROM timers WHERE timer_key = $1", key)
    assert row["attempts"] == 1 and "downstream said no" in row["last_error"] and row["dead_at"] is None
    assert row["due_at"] > datetime.now(UTC)  # retried later, with backoff
    await pool.execute("UPDATE timers SET due_at = now() WHERE timer_key = $1", key)
    assert await worker.fire_due() == 0
    row = await pool.fetchrow("SELECT attempts, dead_at FROM timers WHERE timer_key = $1", key)
    assert row["attempts"] == 2 and row["dead_at"] is not None  # parked for an operator, still there


async def test_inbox_claims_an_event_once_and_rolls_a_repeat_back_whole(pool: asyncpg.Pool) -> None:
    event_id = uid("evt")
    emitted: list[str] = []

    async def handle(conn: asyncpg.Connection, claim: inbox.Claim, visit: str) -> None:
        async with transaction(conn, "tests/inbox", TraceContext.new(), claim=claim) as uow:
            emitted.append(await uow.emit(_review(visit)))
            await uow.set_timer(f"inbox-{visit}", "none", datetime(2030, 1, 1, tzinfo=UTC), {})

    first, repeat, other = uid("visit"), uid("visit"), uid("visit")
    async with pool.acquire() as conn:
        await handle(conn, inbox.Claim("tests", "src", event_id), first)
        with pytest.raises(inbox.AlreadyProcessed):
            await handle(conn, inbox.Claim("tests", "src", event_id), repeat)
        await handle(conn, inbox.Claim("tests", "other-src", event_id), other)  # source + id identify an event
        assert await inbox.seen(conn, "tests", "src", event_id)
        assert not await inbox.seen(conn, "tests", "src", uid("evt"))
        outbox = {
            r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox WHERE event_id = ANY($1)", emitted)
        }
        timers = {r["timer_key"] for r in await conn.fetch("SELECT timer_key FROM timers WHERE kind = 'none'")}
    assert outbox == {emitted[0], emitted[2]}  # the repeat's event rolled back with it
    assert {f"inbox-{first}", f"inbox-{other}"} <= timers and f"inbox-{repeat}" not in timers


async def test_a_handler_statement_can_claim_the_event_and_the_flush_then_claims_nothing(pool: asyncpg.Pool) -> None:
    """inbox.claiming and UnitOfWork.take_claim: the hot path's first statement claims the event (a
    repeat raises there and rolls back whole); the flush, with nothing queued, sends no statement."""
    claim = inbox.Claim("tests", "src", uid("evt"))
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
        assert await inbox.seen(conn, *claim.args())


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
