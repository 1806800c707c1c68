"""call-router never leaves a caller at a dead end, and follows urgent calls through, over the real
broker and database, at the default ring budget (3 rings x 6 s).

Proves: with no network fallback, a call for an unknown clinic is held (never retried, never
dead-lettered, blocking nobody) and routed when its clinic's configuration arrives; with one, such a
call goes to the fallback's vendor at once (reason unknown_clinic; call.routed, call.overflowed, and
the vendor's own copy), interleaved on one partition with a healthy clinic whose calls are handled
in order without a single retry; a configuration applied after its first call leaves that call with
the fallback vendor (who answers it) and routes the next one normally; a message the fallback vendor
takes on such a call is delivered at once; `frontdesk apply` refuses an
unknown fallback vendor and publishes nothing; an urgent call's on-call page is re-sent and escalated
along the roster until acknowledged at the second escalation, and the acknowledgement and the time
it took are recorded and shown by GET /v1/calls/{id}; another vendor's acknowledgement is refused.

The network document is one for the whole router, so these tests set it themselves, in file order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka.partitioner import murmur2

from frontdesk.common.cloudevents import decode
from frontdesk.common.contracts import (
    CallAnswered,
    CallReceived,
    ClinicConfig,
    NetworkConfigured,
    NetworkFallback,
    OnCallPageRequested,
    VendorMessageTaken,
    VendorPageAcknowledged,
    dlq_topic,
    vendor_calls_topic,
    vendor_events_topic,
)
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import InvalidClinicFile, apply_file, live_clinics, live_network, publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_vendors import _call_row, _vendor_ready

BUDGET = {"ring_seconds": 6, "rings": 3}  # the default: 18 s, the vendor gets the call by 12 s
CALL_PARTITIONS = 6  # call.received
_NETWORK = "SELECT config::text AS config FROM network_config"


async def _network(stack: LocalStack, fallback: NetworkFallback | None) -> None:
    """Publish the network document and wait until the router has it."""
    network = NetworkConfigured(fallback=fallback)
    await publish(stack.bootstrap, [], network=network)
    want = network.model_dump(mode="json")
    deadline = time.monotonic() + 60
    while [json.loads(r["config"]) for r in await query(stack.database_url("call-router"), _NETWORK)] != [want]:
        assert time.monotonic() < deadline, "call-router never read the network document"
        await asyncio.sleep(0.2)


@pytest.fixture
async def fallback(stack: LocalStack, running: dict[str, ServiceProcess]) -> AsyncIterator[NetworkFallback]:
    # Answer targets of 120 s in a 300 s budget: no deadline or second-vendor offer of these calls
    # fires (and fails a vendor) during the tests.
    a, b = uid("fb-a"), uid("fb-b")
    config = NetworkFallback(
        answering_service=a,
        secondary_answering_service=b,
        vendors=[{"vendor_id": a, "answer_target_seconds": 120}, {"vendor_id": b, "answer_target_seconds": 120}],
        ring_seconds=30,
        rings=10,
    )
    await _network(stack, config)
    await _vendor_ready(stack, a)
    yield config


async def _publish_clinic(stack: LocalStack, router: ServiceProcess, clinic_id: str, **phone: Any) -> ClinicConfig:
    """A clinic that is never open (its calls go to its own vendor at once), at the default budget."""
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Fallback Test Clinic",
            "timezone": "America/Chicago",
            "phone": {"answering_service": f"{clinic_id}-v", **BUDGET, **phone},
        }
    )
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    while clinic_id not in await asyncio.to_thread(router.known_clinics):
        assert time.monotonic() < deadline, "call-router never learned the clinic"
        await asyncio.sleep(0.2)
    return config


def _partition(clinic_id: str) -> int:
    return (murmur2(clinic_id.encode()) & 0x7FFFFFFF) % CALL_PARTITIONS  # the producer's default partitioner


def _unknown_clinics_beside(clinic_id: str, n: int) -> list[str]:
    """`n` clinic ids nobody configured whose calls share `clinic_id`'s partition of call.received."""
    ids: list[str] = []
    while len(ids) < n:
        candidate = uid("nowhere")
        if _partition(candidate) == _partition(clinic_id):
            ids.append(candidate)
    return ids


def _call(clinic_id: str, **kw: Any) -> CallReceived:
    return CallReceived(
        call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=uid("tok"), **kw
    )


def _records(tap: EventTap, topic: str) -> dict[str, list[tuple[int, Any]]]:
    """(broker timestamp in ms, event) of `topic`'s records, by call_id, in offset order."""
    out: dict[str, list[tuple[int, Any]]] = {}
    for r in tap.raw:
        if r.topic == topic:
            event = decode(r.topic, r.value, r.headers).data
            out.setdefault(getattr(event, "call_id", None) or "", []).append((r.timestamp, event))
    return out


async def _counter(router: ServiceProcess, name: str, **labels: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(router.ops_url + "/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_without_a_fallback_a_call_is_held_and_routed_when_its_clinic_arrives(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    await _network(stack, None)
    late = uid("held")
    healthy = uid("healthy")
    while _partition(healthy) != _partition(late):
        healthy = uid("healthy")
    await _publish_clinic(stack, router, healthy)
    held, behind = _call(late), _call(healthy)
    unrouted = await _counter(router, "frontdesk_calls_unknown_clinic_total", outcome="unrouted")
    async with EventTap(stack.bootstrap, ["call.routed", "call.received.dlq"]) as tap:
        await send_events(stack.bootstrap, [held, behind])  # one partition: the healthy call is behind it
        await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == behind.call_id, timeout=60)
        row = await _call_row(stack, held.call_id, lambda c: c["status"] == "unrouted")
        assert (row["reason"], row["attempt"]) == ("unknown_clinic", 0)
        assert await _counter(router, "frontdesk_calls_unknown_clinic_total", outcome="unrouted") == unrouted + 1
        # The clinic is configured moments later: its held call is routed then, nothing is lost.
        await _publish_clinic(stack, router, late)
        [routed] = await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == held.call_id, timeout=60)
        await tap.settle(0.5)
    assert (routed.data.target_kind, routed.data.target_id, routed.data.reason) == (  # type: ignore[attr-defined]
        "answering_service",
        f"{late}-v",
        "after_hours",
    )
    assert not [r for r in tap.raw if r.topic == "call.received.dlq" and held.call_id.encode() in (r.value or b"")]


async def test_unknown_clinics_go_to_the_fallback_at_once_and_never_hold_up_a_healthy_clinic(
    stack: LocalStack, running: dict[str, ServiceProcess], fallback: NetworkFallback
) -> None:
    router = running["call-router"]
    healthy = uid("healthy")
    await _publish_clinic(stack, router, healthy)
    unknown = _unknown_clinics_beside(healthy, 5)
    calls = [c for clinic_id in unknown for c in (_call(healthy), _call(clinic_id))]  # interleaved, one partition
    unknown_calls = [c for c in calls if c.clinic_id != healthy]
    retries = await _counter(router, "frontdesk_handler_retries_total", topic="call.received")
    vendor_topic = vendor_calls_topic(fallback.answering_service)
    topics = ["call.received", "call.routed", "call.overflowed", "call.received.dlq", vendor_topic]
    async with EventTap(stack.bootstrap, topics) as tap:
        await send_events(stack.bootstrap, calls)
        ids = {c.call_id for c in calls}
        await tap.wait_for(
            lambda e: e.type == "call.routed" and getattr(e.data, "call_id", None) in ids, len(calls), 90
        )
        mine = {c.call_id for c in unknown_calls}
        await tap.wait_for(
            lambda e: e.topic == vendor_topic and getattr(e.data, "call_id", None) in mine, len(mine), 60
        )
        await tap.settle(0.5)
    received, routed = _records(tap, "call.received"), _records(tap, "call.routed")
    overflowed, own = _records(tap, "call.overflowed"), _records(tap, vendor_topic)
    delays = []
    for call in unknown_calls:
        [(at, decision)] = routed[call.call_id]
        assert (decision.target_kind, decision.target_id, decision.reason) == (
            "answering_service",
            fallback.answering_service,
            "unknown_clinic",
        )
        assert (decision.answer_by - call.received_at).total_seconds() == fallback.phone().ring_budget_seconds
        [(_, shared)] = overflowed[call.call_id]
        [(_, copy)] = own[call.call_id]
        assert shared.vendor_id == copy.vendor_id == fallback.answering_service and shared.reason == "unknown_clinic"
        delays.append((at - received[call.call_id][0][0]) / 1000)
    # At once: long before the vendor hand-off point of the budget (12 s), from broker timestamps.
    assert max(delays) < 12, delays
    healthy_delays = [
        (routed[c.call_id][0][0] - received[c.call_id][0][0]) / 1000 for c in calls if c.clinic_id == healthy
    ]
    # The partition was never held up: handled in the order sent, no retry, nothing dead-lettered.
    rows = await query(
        stack.database_url("call-router"),
        "SELECT call_id FROM calls WHERE call_id = ANY($1::text[]) ORDER BY routed_at",
        [c.call_id for c in calls],
    )
    assert [r["call_id"] for r in rows] == [c.call_id for c in calls]
    assert await _counter(router, "frontdesk_handler_retries_total", topic="call.received") == retries
    assert not [r for r in tap.raw if r.topic == "call.received.dlq"]
    print(
        f"call.received -> call.routed, broker timestamps: unknown clinics {max(delays) * 1000:.0f} ms at most,"
        f" the healthy clinic beside them {max(healthy_delays) * 1000:.0f} ms at most"
    )


async def test_a_configuration_applied_after_its_first_call(
    stack: LocalStack, running: dict[str, ServiceProcess], fallback: NetworkFallback
) -> None:
    router = running["call-router"]
    clinic_id = uid("late")
    first = _call(clinic_id)
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        await send_events(stack.bootstrap, [first])
        [to_fallback] = await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == first.call_id, timeout=60)
        await _publish_clinic(stack, router, clinic_id)
        second = _call(clinic_id)
        await send_events(stack.bootstrap, [second])
        [normal] = await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == second.call_id, timeout=60)
        await tap.settle(1.0)
    assert (to_fallback.data.target_id, to_fallback.data.reason) == (fallback.answering_service, "unknown_clinic")  # type: ignore[attr-defined]
    assert (normal.data.target_id, normal.data.reason) == (f"{clinic_id}-v", "after_hours")  # type: ignore[attr-defined]
    # The first call stays with the fallback vendor (a human is already taking it): routed once.
    assert len(tap.matching(lambda e: getattr(e.data, "call_id", None) == first.call_id)) == 1
    # ... which answers it on its own topic; the answer is applied (the call was handed to it).
    answered = CallAnswered(
        call_id=first.call_id,
        clinic_id=clinic_id,
        answered_at=datetime.now(UTC),
        answered_by_kind="answering_service",
        answered_by_id=fallback.answering_service,
    )
    await send_events(stack.bootstrap, [answered], topic=vendor_events_topic(fallback.answering_service))
    row = await _call_row(stack, first.call_id, lambda c: c["status"] == "answered")
    assert row["answered_by_id"] == fallback.answering_service


async def test_the_fallback_vendor_s_message_on_an_unknown_clinic_s_call_is_delivered_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess], fallback: NetworkFallback
) -> None:
    router = running["call-router"]
    clinic_id = uid("nowhere")
    call = _call(clinic_id)
    await send_events(stack.bootstrap, [call])
    await _call_row(stack, call.call_id, lambda c: c["status"] == "with_vendor")
    vendor = fallback.answering_service
    taken = VendorMessageTaken(
        message_id=uid("msg"),
        vendor_id=vendor,
        clinic_id=clinic_id,
        call_id=call.call_id,
        caller_token=call.caller_token,
        urgency="routine",
        category="appointment",
        taken_at=datetime.now(UTC),
    )
    async with EventTap(stack.bootstrap, [f"{vendor_events_topic(vendor)}.dlq"]) as dlq:
        await send_events(stack.bootstrap, [taken], topic=vendor_events_topic(vendor))
        # No hours and no roster to wait for: delivered at once (not retried, not dead-lettered).
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(headers=router.auth_headers) as client:
            while (body := (await client.get(f"{router.url}/v1/messages/{taken.message_id}")).json()).get(
                "status"
            ) != "delivered":
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.2)
        await dlq.settle(0.5)
    assert dlq.raw == []


async def test_apply_refuses_an_unknown_fallback_vendor_and_publishes_nothing(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    before = await live_network(stack.bootstrap)
    clinic_id = uid("typo")
    path = tmp_path / "network.yaml"
    document = {
        "network": {"fallback": {"answering_service": "nightowl-answerng"}},
        "clinics": [{"clinic_id": clinic_id, "name": "Typo", "timezone": "UTC", "phone": {"answering_service": "owl"}}],
    }
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(InvalidClinicFile, match="unknown vendor 'nightowl-answerng': no clinic uses it"):
        await apply_file(path, stack.bootstrap)
    assert await live_network(stack.bootstrap) == before
    assert clinic_id not in await live_clinics(stack.bootstrap)


async def test_an_urgent_call_is_paged_until_acknowledged_at_the_second_escalation(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = uid("urgent")
    vendor = f"{clinic_id}-v"
    on_call = [
        {"provider_id": "dr-first", "channel": "pager", "resend_every_seconds": 1, "escalate_after_seconds": 2},
        {"provider_id": "dr-first", "channel": "mobile", "resend_every_seconds": 1, "escalate_after_seconds": 2},
        {"provider_id": "dr-backup", "channel": "pager", "resend_every_seconds": 60},
    ]
    other = f"{clinic_id}-w"  # the clinic's secondary vendor: never handed this call
    vendors = [{"vendor_id": vendor, "answer_target_seconds": 120}, {"vendor_id": other}]
    await _publish_clinic(
        stack,
        router,
        clinic_id,
        secondary_answering_service=other,
        vendors=vendors,
        on_call=on_call,
        ring_seconds=30,  # a 300 s budget that the vendor's 120 s target fits: no deadline fires here
        rings=10,
    )
    await _vendor_ready(stack, vendor)
    await _vendor_ready(stack, other)
    call = _call(clinic_id, intent="urgent")
    pages_topic = vendor_calls_topic(vendor)
    refused = dlq_topic(vendor_events_topic(other))

    def page(e: Any) -> bool:
        return e.topic == pages_topic and isinstance(e.data, OnCallPageRequested) and e.data.call_id == call.call_id

    def ack(by: str, provider_id: str) -> VendorPageAcknowledged:
        return VendorPageAcknowledged(
            call_id=call.call_id,
            vendor_id=by,
            clinic_id=clinic_id,
            provider_id=provider_id,
            acknowledged_at=datetime.now(UTC),
        )

    async with EventTap(stack.bootstrap, [pages_topic, "call.routed", "call.received", refused]) as tap:
        await send_events(stack.bootstrap, [call])
        await tap.wait_for(page, timeout=60)
        # Another vendor cannot acknowledge a call it was never handed: refused, paging goes on.
        [wrong] = await send_events(stack.bootstrap, [ack(other, "dr-first")], topic=vendor_events_topic(other))
        # The vendor delivers the pages; it acknowledges when the second escalation (the backup) is paged.
        await tap.wait_for(lambda e: page(e) and e.data.step == 2, timeout=60)
        await send_events(stack.bootstrap, [ack(vendor, "dr-backup")], topic=vendor_events_topic(vendor))
        await _call_page(stack, call.call_id, lambda p: p["status"] == "acknowledged")
        await tap.settle(2.5)  # dr-first's schedule would have paged twice more by now
        deadline = time.monotonic() + 60
        while not (dead := [dict(r.headers) for r in tap.raw if r.topic == refused]):
            assert time.monotonic() < deadline, "the other vendor's acknowledgement was not refused"
            await tap.poll()
    assert dead[0]["ce_id"].decode() == wrong
    assert dead[0]["dlq_reason"].decode().startswith("vendor event refused: the call was not handed to this vendor")
    pages = [e.data for e in tap.matching(page)]
    assert [(p.step, p.resend, p.escalated, p.provider_id, p.channel) for p in pages] == [
        (0, 0, False, "dr-first", "pager"),
        (0, 1, False, "dr-first", "pager"),
        (1, 0, True, "dr-first", "mobile"),
        (1, 1, False, "dr-first", "mobile"),
        (2, 0, True, "dr-backup", "pager"),
    ]
    routed = [
        e.data
        for e in tap.matching(lambda e: getattr(e.data, "call_id", None) == call.call_id and e.type == "call.routed")
    ]
    assert {(r.target_kind, r.target_id) for r in routed} == {("answering_service", vendor), ("on_call", "dr-first")}
    # The vendor had the call at once (broker timestamps), well before the hand-off point (12 s).
    [(received_at, _)] = _records(tap, "call.received")[call.call_id]
    assert all((at - received_at) / 1000 < 12 for at, _ in _records(tap, "call.routed")[call.call_id])
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        shown = (await client.get(f"{router.url}/v1/calls/{call.call_id}")).json()["page"]
    assert (shown["status"], shown["acknowledged_by"], shown["pages_requested"]) == ("acknowledged", "dr-backup", 5)
    assert shown["seconds_to_acknowledge"] >= 4  # the backup is paged 4 s after the first page
    assert await _counter(router, "frontdesk_oncall_acknowledged_seconds_count", subject="call") >= 1


async def _call_page(stack: LocalStack, call_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await query(stack.database_url("call-router"), "SELECT * FROM call_pages WHERE call_id = $1", call_id)
        if rows and until(rows[0]):
            return rows[0]
        assert time.monotonic() < deadline, f"call {call_id}: {rows}"
        await asyncio.sleep(0.2)
