"""Poison records on every input topic of every service, while a simulated day runs.

Proves: bad JSON, an unknown event type, an unknown contract version, a schema violation and a huge
(900 kB) payload on each topic a service consumes reach `<topic>.dlq` (one per consuming group)
within 3 attempts, with their origin in headers; the poisoned partition keeps flowing (each group's
committed offset moves past the poison) and the day's traffic loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition

from frontdesk.common.contracts import dlq_topic
from frontdesk.common.kafka import make_admin
from frontdesk.tools.stack import MODULES, SERVICES, LocalStack
from frontdesk.tools.tap import EventTap

from .helpers import Schedule, play, record


def consumers_by_topic() -> dict[str, list[str]]:
    """Shared input topic -> consumer groups, from the services' own definitions (plus
    clinic.configured). Per-vendor topics (vendor.<id>.events) are not among them."""
    out: dict[str, list[str]] = defaultdict(list)
    for name in SERVICES:
        definition = importlib.import_module(MODULES[name] + ".entrypoints.main").DEFINITION
        shared = (model.event_type for model in definition.handlers if model.shared_topic)
        for topic in {"clinic.configured", *shared}:
            out[topic].append(f"frontdesk.{name}")
    return dict(out)


def _headers(topic: str, *, ce_type: str | None = None, version: int = 1) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", uuid.uuid4().hex.encode()),
        ("ce_source", b"tests/faults/poison"),
        ("ce_type", (ce_type or topic).encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("ce_dataschema", f"urn:frontdesk:schema:{ce_type or topic}:{version}".encode()),
        ("content-type", b"application/json"),
    ]


def poison_records(topic: str) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    huge = json.dumps({"clinic_id": "poison", "padding": "x" * 900_000}).encode()
    return [
        ("bad json", b'{"clinic_id": "poison", ', _headers(topic)),
        ("unknown type", b'{"clinic_id": "poison"}', _headers(topic, ce_type="no.such.event")),
        ("unknown version", b'{"clinic_id": "poison"}', _headers(topic, version=99)),
        ("schema violation", b'{"clinic_id": 42, "unexpected": true}', _headers(topic)),
        ("huge payload", huge, _headers(topic)),
    ]


async def test_poison_on_every_input_topic_is_dead_lettered_and_partitions_keep_flowing(
    healthy: LocalStack,
) -> None:
    groups = consumers_by_topic()
    sent: list[tuple[str, str, int, int]] = []  # kind, topic, partition, offset
    dlq_topics = sorted({dlq_topic(t) for t in groups})

    async def inject() -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=healthy.bootstrap, acks="all", enable_idempotence=True, max_request_size=2_000_000
        )
        await producer.start()
        try:
            for topic in sorted(groups):
                for kind, value, headers in poison_records(topic):
                    meta = await producer.send_and_wait(topic, value, key=b"poison-key", headers=headers)
                    sent.append((kind, topic, meta.partition, meta.offset))
        finally:
            await producer.stop()
        return len(sent)

    async with EventTap(healthy.bootstrap, dlq_topics) as tap:
        schedule = Schedule([(0.3, "inject poison", inject)])
        result = await play(healthy, schedule)
        expected = {(t, p, o, g) for _, t, p, o in sent for g in groups[t]}

        def parked() -> set[tuple[str, int, int, str]]:
            found = set()
            for r in tap.raw:
                h = dict(r.headers)
                found.add(
                    (
                        h["dlq_source_topic"].decode(),
                        int(h["dlq_source_partition"]),
                        int(h["dlq_source_offset"]),
                        h["dlq_consumer_group"].decode(),
                    )
                )
            return found

        deadline = time.monotonic() + 120
        while not expected <= parked() and time.monotonic() < deadline:
            await tap.poll()
    record("poison records on every input topic", result, schedule, poison_sent=len(sent), dlq=len(tap.raw))
    assert result.ok, result.problems
    missing = expected - parked()
    assert not missing, f"not dead-lettered: {sorted(missing)[:5]}"
    for r in tap.raw:
        assert int(dict(r.headers)["dlq_attempts"]) <= 3
        assert dict(r.headers)["dlq_reason"]
    # Each poisoned partition kept flowing: every group committed past the last poison record.
    last: dict[tuple[str, int], int] = {}
    for _, topic, partition, offset in sent:
        last[(topic, partition)] = max(last.get((topic, partition), -1), offset)
    admin = make_admin(healthy.bootstrap, "tests-faults")
    await admin.start()
    try:
        for name in SERVICES:
            group = f"frontdesk.{name}"
            mine = [tp for tp in last if group in groups[tp[0]]]
            for _ in range(60):
                committed = await admin.list_consumer_group_offsets(group)
                behind = [
                    tp for tp in mine if (c := committed.get(TopicPartition(*tp))) is None or c.offset <= last[tp]
                ]
                if not behind:
                    break
                await asyncio.sleep(1)
            assert not behind, f"{group} is stuck on {behind}"
    finally:
        await admin.close()
