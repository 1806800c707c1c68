"""A pure projector's batched consumption (frontdesk.common.batches) against the real broker and
database, with a handler that is not idempotent (it counts), so that anything handled twice shows.

Proves: queued records are handled in batches (one transaction each, the batch scope around them);
an event written twice (the same id: a producer's retry, a redelivery) counts once; a batch whose
handler fails rolls back whole, and its records then go one at a time (the failing one retried, the
others once each); a record that cannot be decoded is dead-lettered and the records around it count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from frontdesk.common.batches import BatchConsumer
from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import Event, ReviewRequested
from frontdesk.common.db import Connection
from frontdesk.common.kafka import make_producer
from frontdesk.common.uow import UnitOfWork
from frontdesk.testing.helpers import uid
from frontdesk.testing.plumbing import consumer_settings, database_fixture, review
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap

DATABASE = "frontdesk_batch_test"


pool = database_fixture(DATABASE, "CREATE TABLE IF NOT EXISTS batch_counts (visit_id text PRIMARY KEY, n int NOT NULL)")


async def test_batches_count_each_event_once_through_repeats_failures_and_bad_records(
    stack: LocalStack, pool: asyncpg.Pool
) -> None:
    clinic = uid("batch-clinic")  # the topic holds other tests' records too: only ours count
    visits = [uid("visit") for _ in range(60)]
    refuse_once = {visits[17]}
    batches: list[int] = []

    async def count(event: ReviewRequested, uow: UnitOfWork) -> None:
        if event.clinic_id != clinic:
            return
        if event.visit_id in refuse_once:
            refuse_once.discard(event.visit_id)
            raise RuntimeError("refused once")
        await uow.conn.execute(
            "INSERT INTO batch_counts VALUES ($1, 1) ON CONFLICT (visit_id) DO UPDATE SET n = batch_counts.n + 1",
            event.visit_id,
        )

    @asynccontextmanager
    async def scope(conn: Connection, events: Sequence[Event]) -> AsyncIterator[None]:
        ours = [e for e in events if isinstance(e, ReviewRequested) and e.clinic_id == clinic]
        yield
        if ours:
            batches.append(len(ours))

    marker = uid("not-json").encode()
    producer = make_producer(stack.bootstrap, client_id="tests-batches")
    await producer.start()
    try:
        for n, visit in enumerate(visits):
            record = encode(review(clinic, visit), source="tests/batches")
            copies = 2 if n % 10 == 0 else 1  # the same event (same id) written twice
            for _ in range(copies):
                await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            if n == 30:
                await producer.send_and_wait(record.topic, marker, key=record.key, headers=record.headers)
    finally:
        await producer.stop()

    settings = consumer_settings(stack, DATABASE)
    dead_letters = make_producer(stack.bootstrap, client_id="tests-batches-dlq")
    await dead_letters.start()
    consumer = BatchConsumer(settings, pool, dead_letters, {ReviewRequested: count}, scope)
    async with EventTap(stack.bootstrap, ["review.requested.dlq"], from_beginning=True) as dlq:
        await consumer.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                counted = dict(
                    await pool.fetch("SELECT visit_id, n FROM batch_counts WHERE visit_id = ANY($1)", visits)
                )
                await dlq.poll(0.1)
                parked = any(marker in (r.value or b"") for r in dlq.raw)
                if len(counted) == len(visits) and parked:
                    break
                assert time.monotonic() < deadline, f"{len(counted)} of {len(visits)} counted, dead letter: {parked}"
                await asyncio.sleep(0.2)
        finally:
            await consumer.stop(timeout=5)
            await dead_letters.stop()
    assert set(counted.values()) == {1}, "an event counted twice"
    assert max(batches) > 1, f"no batch of several events: {batches}"
