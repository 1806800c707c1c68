"""An event id reused for another event (frontdesk.common.inbox), through the real broker and database.

Proves: a record whose source and id were processed before with other content is not dropped as a
repeat but dead-lettered with the reason, logged and counted, and the records after it are handled;
a true repeat (the same data, sent again with another time and trace) stays a silent repeat. So for
each way a consumer claims an event: in its unit of work's last statement, in a statement of the
handler's (inbox.claiming, the router's hot path), and in a batch (a pure projector).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from frontdesk.common import inbox
from frontdesk.common.batches import BatchConsumer
from frontdesk.common.cloudevents import TraceContext, encode
from frontdesk.common.consumer import EventConsumer, Handler
from frontdesk.common.contracts import Event, ReviewRequested
from frontdesk.common.db import Connection
from frontdesk.common.kafka import make_producer
from frontdesk.common.uow import UnitOfWork
from frontdesk.testing.helpers import send_raw, uid
from frontdesk.testing.plumbing import consumer_settings, database_fixture, review
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap

DATABASE = "frontdesk_reused_ids_test"


pool = database_fixture(DATABASE, "CREATE TABLE IF NOT EXISTS reuse_counts (visit_id text PRIMARY KEY, n int NOT NULL)")


@asynccontextmanager
async def _no_scope(conn: Connection, events: Sequence[Event]) -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize("claimed_in", ["flush", "statement", "batch"])
async def test_an_id_reused_for_other_content_is_dead_lettered_and_a_true_repeat_stays_silent(
    stack: LocalStack, pool: asyncpg.Pool, claimed_in: str
) -> None:
    clinic, reused_id = uid("reuse-clinic"), uid("evt")
    first, other, after = uid("visit"), uid("visit"), uid("visit")

    async def count(event: ReviewRequested, uow: UnitOfWork) -> None:
        if event.clinic_id != clinic:
            return  # the topic holds other tests' records too
        if claimed_in == "statement":
            claim = uow.take_claim()
            assert claim is not None
            row = await uow.conn.fetchrow(inbox.claiming("SELECT $1::text AS visit", 2), event.visit_id, *claim.args())
            if row is None or not row["claimed"]:
                raise inbox.AlreadyProcessed(claim.event_id)
        await uow.conn.execute(
            "INSERT INTO reuse_counts VALUES ($1, 1) ON CONFLICT (visit_id) DO UPDATE SET n = reuse_counts.n + 1",
            event.visit_id,
        )

    now = datetime.now(UTC)
    records = [
        encode(review(clinic, first), source="tests/reuse", event_id=reused_id, time=now),
        # A true repeat: the same event sent again, stamped and traced anew by the producer's retry.
        encode(
            review(clinic, first),
            source="tests/reuse",
            event_id=reused_id,
            time=now + timedelta(seconds=5),
            trace=TraceContext.new(),
        ),
        encode(review(clinic, other), source="tests/reuse", event_id=reused_id, time=now),  # the id reused
        encode(review(clinic, after), source="tests/reuse"),
    ]
    await send_raw(stack.bootstrap, [(r.topic, r.key, r.value, r.headers) for r in records])

    settings = consumer_settings(stack, DATABASE)
    producer = make_producer(stack.bootstrap, client_id="tests-reuse")
    await producer.start()
    handlers: dict[type[Event], Handler] = {ReviewRequested: count}
    consumer = (
        BatchConsumer(settings, pool, producer, handlers, _no_scope)
        if claimed_in == "batch"
        else EventConsumer(settings, pool, producer, handlers)
    )

    def dead_letters() -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in dlq.raw if dict(r.headers).get("ce_id") == reused_id.encode()]

    async with EventTap(stack.bootstrap, ["review.requested.dlq"], from_beginning=True) as dlq:
        await consumer.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                await dlq.poll(0.1)
                rows = await pool.fetch("SELECT visit_id, n FROM reuse_counts WHERE visit_id = ANY($1)", [first, after])
                counted = {r["visit_id"]: r["n"] for r in rows}
                if after in counted and dead_letters():
                    break
                assert time.monotonic() < deadline, f"counted {counted}, dead letters {dead_letters()}"
                await asyncio.sleep(0.1)
            await dlq.settle(1.0)
        finally:
            await consumer.stop(timeout=5)
            await producer.stop()
    assert counted == {first: 1, after: 1}
    assert await pool.fetchval("SELECT n FROM reuse_counts WHERE visit_id = $1", other) is None  # not handled
    [letter] = dead_letters()  # the true repeat was not dead-lettered
    assert other.encode() in (letter.value or b"")  # the reused id's event, whole
    reason = dict(letter.headers)["dlq_reason"].decode()
    assert reason.startswith("event id reused for other content") and reused_id in reason, reason
    # Counted, once per such dead letter of this consumer's (earlier tests' reused ids are on the topic too).
    ours = [
        h
        for r in dlq.raw
        if (h := dict(r.headers)).get("dlq_consumer_group") == settings.consumer_group.encode()
        and h["dlq_reason"].startswith(b"event id reused")
    ]
    labels = {"service": settings.service, "topic": "review.requested"}
    assert REGISTRY.get_sample_value("frontdesk_reused_event_ids_total", labels) == len(ours)
