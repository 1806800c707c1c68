"""Small helpers for the integration tests: producing records and reading the services' databases."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from frontdesk.common.cloudevents import TraceContext, encode
from frontdesk.common.contracts import Event
from frontdesk.common.kafka import KafkaSecurity, make_producer


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def send_events(
    bootstrap: str,
    events: list[Event],
    source: str = "tests/integration",
    security: KafkaSecurity | None = None,
    topic: str | None = None,
    trace: TraceContext | None = None,
) -> list[str]:
    """Publish events with our own encoder (on their registry topic, or `topic`, e.g. a vendor's own),
    in the trace `trace` if given; return their event ids."""
    producer = make_producer(bootstrap, client_id="tests", security=security)
    await producer.start()
    ids = []
    try:
        for event in events:
            record = encode(event, source=source, topic=topic, trace=trace)
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            ids.append(dict(record.headers)["ce_id"].decode())
    finally:
        await producer.stop()
    return ids


async def send_raw(
    bootstrap: str, records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]
) -> None:
    """Publish (topic, key, value, headers) records with a bare aiokafka producer: none of our code."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def query(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()
