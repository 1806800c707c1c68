"""Poison records on every input topic of every service.

Proves: bad JSON, an unknown event type, an unknown contract version, a schema violation and a huge
(900 kB) payload on each topic a service consumes reach `<topic>.dlq` (one per consuming group)
within 3 attempts, with their origin in headers; the poisoned partition keeps flowing (each group's
committed offset moves past the poison) and the day's traffic loses and duplicates nothing.

Records made to stall a consumer (issue 16, item 4: megabytes of digits in headers, a 5 MB value
compressed into the topic's limit, JSON Python refuses), on every consumed topic including each
vendor's `.events`, are dead-lettered as records that fit, and the healthy record after them on the
same partition is handled; the time to dead-letter a 1 MB record is measured next to a small one's.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from frontdesk.common.cloudevents import OutgoingRecord, encode
from frontdesk.common.contracts import (
    ClinicConfig,
    ClinicConfigured,
    Event,
    VendorHeartbeat,
    dlq_topic,
    vendor_of_events_topic,
    vendor_topics,
)
from frontdesk.common.kafka import ensure_topics, make_admin
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


# --- issue 16, item 4: records made to stall a consumer -------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "libs" / "common" / "tests" / "unit" / "conftest.py"
POISON_VENDOR = "poison-vendor"
DECODE_REASONS = ("header ", "missing CloudEvents", "unknown event type", "value is not JSON", "schema violation")
MB = 1024 * 1024


def _samples() -> dict[str, Event]:
    """One valid event of every type (the common library's unit-test samples)."""
    spec = importlib.util.spec_from_file_location("common_unit_samples", SAMPLES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    samples: dict[str, Event] = module._samples()
    return samples


def stalling_records(topic: str) -> list[tuple[str, bytes, list[tuple[str, bytes]], bool]]:
    """(kind, value, headers, gzip): what a hostile producer can put in a topic's 1 MB."""
    ce_type = "answering.heartbeat" if topic.startswith("vendor.") else topic
    headers = _headers(topic, ce_type=ce_type)
    return [
        ("1 MB of digits in ce_type", b"{}", replace_header(headers, "ce_type", b"5" * 1_000_000), False),
        ("256 kB of digits in ce_id", b"{}", replace_header(headers, "ce_id", b"5" * 256_000), False),
        ("900 kB header we do not read", b"{", [*headers, ("x-poison", b"5" * 900_000)], False),
        ("5 MB of digits, gzip", b"5" * 5_000_000, headers, True),
        ("arrays nested 500 000 deep", b"[" * 500_000, headers, False),
    ]


def report(row: dict[str, Any]) -> None:
    """One line of the fault matrix (as helpers.record writes for a simulated day)."""
    print(json.dumps(row))
    if path := os.environ.get("FRONTDESK_FAULT_REPORT"):
        with Path(path).open("a") as f:
            f.write(json.dumps(row) + "\n")


def replace_header(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


def healthy_record(topic: str, samples: dict[str, Event], clinic: ClinicConfig) -> OutgoingRecord:
    if topic == "clinic.configured":
        return encode(ClinicConfigured(clinic_id=clinic.clinic_id, config=clinic), source="tests/faults/poison")
    if topic.startswith("vendor."):
        vendor = vendor_of_events_topic(topic)
        assert vendor is not None
        beat = VendorHeartbeat(vendor_id=vendor, sent_at=datetime.now(UTC))
        return encode(beat, source="tests/faults/poison", topic=topic)
    return encode(samples[topic], source="tests/faults/poison")


async def _send(
    bootstrap: str,
    topic: str,
    value: bytes,
    headers: list[tuple[str, bytes]],
    gzip: bool = False,
    key: bytes = b"poison-key",
) -> tuple[int, float]:
    """(offset, when it was sent): on partition 0 of `topic`."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=8 * MB,
        compression_type="gzip" if gzip else None,
    )
    await producer.start()
    try:
        sent_at = time.time()
        meta = await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
        return meta.offset, sent_at
    finally:
        await producer.stop()


def _origin(record: Any) -> tuple[str, int, int, str]:
    h = dict(record.headers)
    return (
        h["dlq_source_topic"].decode(),
        int(h["dlq_source_partition"]),
        int(h["dlq_source_offset"]),
        h["dlq_consumer_group"].decode(),
    )


async def _dead_lettered_in(tap: EventTap, topic: str, offset: int, sent_at: float) -> float:
    """Seconds from the send to the dead letter's `dlq_failed_at` (the service's clock, this machine's)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for r in tap.raw:
            h = dict(r.headers)
            if _origin(r)[:3] == (topic, 0, offset):
                return datetime.fromisoformat(h["dlq_failed_at"].decode()).timestamp() - sent_at
        await tap.poll()
    raise AssertionError(f"{topic}@{offset} was not dead-lettered within 120 s")


async def measure_time_to_dead_letter(bootstrap: str, rounds: int = 3) -> dict[str, float]:
    """Median seconds to dead-letter a 1 MB poison record, and a 20-byte one in the same run."""
    topic = "call.received"
    kinds = {
        "1 MB ce_type": (b"{}", replace_header(_headers(topic), "ce_type", b"5" * 1_000_000)),
        "small bad JSON": (b'{"clinic_id": ', _headers(topic)),
    }
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    async with EventTap(bootstrap, [dlq_topic(topic)]) as tap:
        for _ in range(rounds):
            for kind, (value, headers) in kinds.items():
                offset, sent_at = await _send(bootstrap, topic, value, headers)
                seconds[kind].append(await _dead_lettered_in(tap, topic, offset, sent_at))
    return {kind: round(statistics.median(values), 3) for kind, values in seconds.items()}


async def consumed_topics(bootstrap: str) -> dict[str, list[str]]:
    """Every topic a service consumes -> its groups: the shared ones and every vendor's `.events`
    (POISON_VENDOR's created here, so there is at least one)."""
    await ensure_topics(bootstrap, vendor_topics(POISON_VENDOR))
    admin = make_admin(bootstrap, "tests-faults")
    await admin.start()
    try:
        vendor_events = sorted(t for t in await admin.list_topics() if vendor_of_events_topic(t))
    finally:
        await admin.close()
    assert f"vendor.{POISON_VENDOR}.events" in vendor_events
    return {**consumers_by_topic(), **{t: ["frontdesk.call-router"] for t in vendor_events}}


def check_dead_letters(
    dead: list[Any], poison: dict[tuple[str, int, int], str], healthy_offsets: dict[str, int]
) -> None:
    """Each dead letter fits, quotes little, and says what it left out; no healthy record was malformed."""
    for r in dead:
        h = dict(r.headers)
        origin = _origin(r)[:3]
        size = len(r.key or b"") + len(r.value or b"") + sum(len(k) + len(v or b"") for k, v in r.headers)
        assert size <= 2 * MB and 0 < len(h["dlq_reason"]) <= 500 and b"5" * 65 not in h["dlq_reason"]
        if origin in poison and poison[origin] != "arrays nested 500 000 deep":  # the others are over 1 kB
            assert "dlq_omitted" in h and h["dlq_original_bytes"], poison[origin]
        # A handler may refuse a healthy record (valid contract, not necessarily valid business here),
        # but it was read as an event, not as malformed.
        if origin[2] == healthy_offsets.get(origin[0]):
            assert not h["dlq_reason"].decode().startswith(DECODE_REASONS), h["dlq_reason"]


async def test_issue16_item4_stalling_records_on_every_consumed_topic_are_dead_lettered_and_the_next_is_handled(
    healthy: LocalStack,
) -> None:
    """Headers and values made to stall a consumer (1 MB of digits in ce_type, a 5 MB value compressed
    into the topic's limit, JSON Python refuses) on every topic every service consumes, each vendor's
    events included: each reaches `<topic>.dlq` once per consuming group, as a dead letter that fits,
    and the healthy record after them on the same partition is handled."""
    groups = await consumed_topics(healthy.bootstrap)
    timings = await measure_time_to_dead_letter(healthy.bootstrap)

    samples = _samples()
    clinic = ClinicConfig.model_validate(
        {
            "clinic_id": f"poisoned-{uuid.uuid4().hex[:8]}",
            "name": "After The Poison",
            "timezone": "Asia/Kolkata",
            "phone": {"answering_service": POISON_VENDOR},
        }
    )
    poison: dict[tuple[str, int, int], str] = {}
    healthy_offsets: dict[str, int] = {}
    async with EventTap(healthy.bootstrap, sorted({dlq_topic(t) for t in groups})) as tap:
        for topic in sorted(groups):
            for kind, value, headers, gzip in stalling_records(topic):
                offset, _ = await _send(healthy.bootstrap, topic, value, headers, gzip)
                poison[(topic, 0, offset)] = kind
            good = healthy_record(topic, samples, clinic)
            healthy_offsets[topic], _ = await _send(healthy.bootstrap, topic, good.value, good.headers, key=good.key)
        expected = {(*origin, g) for origin in poison for g in groups[origin[0]]}
        deadline = time.monotonic() + 240
        while not expected <= {_origin(r) for r in tap.raw} and time.monotonic() < deadline:
            await tap.poll()
    row = {"fault": "stalling records on every consumed topic", "topics": len(groups), "poison_sent": len(poison)}
    row |= {"dead_letters": len(tap.raw), "median_seconds_to_dead_letter": timings}
    report(row)
    missing = expected - {_origin(r) for r in tap.raw}
    assert not missing, f"not dead-lettered: {sorted((poison[m[:3]], m) for m in missing)[:5]}"
    check_dead_letters(tap.raw, poison, healthy_offsets)
    # Every group handled the healthy record after the poison: its committed offset passed it...
    await _committed_past(healthy.bootstrap, groups, healthy_offsets)
    # ...and on the topic every service reads, each of them applied it.
    for name in SERVICES:
        proc = healthy.service(name)
        for _ in range(60):
            if clinic.clinic_id in await asyncio.to_thread(proc.known_clinics):
                break
            await asyncio.sleep(1)
        assert clinic.clinic_id in await asyncio.to_thread(proc.known_clinics), f"{name} never applied it"


async def _committed_past(bootstrap: str, groups: dict[str, list[str]], offsets: dict[str, int]) -> None:
    admin = make_admin(bootstrap, "tests-faults")
    await admin.start()
    try:
        for group in sorted({g for gs in groups.values() for g in gs}):
            mine = [t for t in offsets if group in groups[t]]
            behind: list[str] = []
            for _ in range(90):
                committed = await admin.list_consumer_group_offsets(group)
                behind = [
                    t for t in mine if (c := committed.get(TopicPartition(t, 0))) is None or c.offset <= offsets[t]
                ]
                if not behind:
                    break
                await asyncio.sleep(1)
            assert not behind, f"{group} is stuck before the healthy record on {behind}"
    finally:
        await admin.close()
