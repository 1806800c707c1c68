"""Per-vendor topics over the real broker.

Proves: the router provisions `vendor.<id>.calls` and `vendor.<id>.events` (with its dead-letter
twin) for the vendors clinics name and publishes on `.calls` only the calls handed to that vendor
(another vendor's topic never sees them); a vendor replica that stops (an outage) and reconnects
with its consumer group resumes from its committed offset: every call once, no gaps, no repeats.
What a vendor reports on its own `.events` is applied only when it is about a call handed to that
vendor (anything else goes to `vendor.<id>.events.dlq` with the reason), and a brand-new vendor's
`.events` topic is read without restarting the router.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from frontdesk.common.cloudevents import decode
from frontdesk.common.contracts import (
    CallAnswered,
    CallEnded,
    CallOverflowed,
    CallReceived,
    ClinicConfig,
    dlq_topic,
    vendor_calls_topic,
    vendor_events_topic,
)
from frontdesk.common.kafka import make_admin
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


async def _closed_clinic(stack: LocalStack, router: ServiceProcess, vendor: str) -> str:
    clinic_id = uid("crv")
    config = ClinicConfig.model_validate(
        {"clinic_id": clinic_id, "name": "Vendor Clinic", "timezone": "UTC", "phone": {"answering_service": vendor}}
    )
    await publish(stack.bootstrap, [config])
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        deadline = time.monotonic() + 60
        while clinic_id not in {c["clinic_id"] for c in (await client.get(router.url + "/v1/clinics")).json()}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
    return clinic_id


async def _vendor_ready(stack: LocalStack, vendor_id: str) -> None:
    """Wait until the router has created the vendor's topic and will publish there."""
    deadline = time.monotonic() + 60
    while not await query(
        stack.database_url("call-router"), "SELECT 1 FROM vendor_topics WHERE vendor_id = $1 AND ready", vendor_id
    ):
        assert time.monotonic() < deadline, f"the topic of {vendor_id} was never provisioned"
        await asyncio.sleep(0.3)
    admin = make_admin(stack.bootstrap, "tests")
    await admin.start()
    try:
        own = vendor_calls_topic(vendor_id), vendor_events_topic(vendor_id), dlq_topic(vendor_events_topic(vendor_id))
        # A topic created by another client reaches this one's metadata a moment later.
        while not set(own) <= set(await admin.list_topics()):
            assert time.monotonic() < deadline, f"the topics of {vendor_id} do not exist"
            await asyncio.sleep(0.3)
    finally:
        await admin.close()


async def _vendor_reads(bootstrap: str, topic: str, group: str, want: set[str], timeout: float = 60) -> list[str]:
    """A vendor replica: consume with a group, commit after each batch, stop when `want` is seen."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while not want <= set(seen):
            assert time.monotonic() < deadline, f"vendor saw {len(seen)} calls, wanted {len(want)}"
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    event = decode(r.topic, r.value, r.headers).data
                    assert isinstance(event, CallOverflowed)
                    seen.append(event.call_id)
            await consumer.commit()
    finally:
        await consumer.stop()
    return seen


async def test_each_vendor_reads_only_its_calls_and_resumes_after_an_outage(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    vendor_a, vendor_b = uid("vend-a"), uid("vend-b")
    clinic_a = await _closed_clinic(stack, router, vendor_a)
    clinic_b = await _closed_clinic(stack, router, vendor_b)
    topic_a, topic_b = vendor_calls_topic(vendor_a), vendor_calls_topic(vendor_b)
    await _vendor_ready(stack, vendor_a)
    await _vendor_ready(stack, vendor_b)

    def calls(clinic_id: str, n: int) -> list[CallReceived]:
        return [
            CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=uid("t"))
            for _ in range(n)
        ]

    first, for_b = calls(clinic_a, 3), calls(clinic_b, 2)
    await send_events(stack.bootstrap, [*first, *for_b])
    group = f"vendor.{vendor_a}.replica"
    seen = await _vendor_reads(stack.bootstrap, topic_a, group, {c.call_id for c in first})
    assert sorted(seen) == sorted(c.call_id for c in first)
    # The vendor is down while more calls come in; its replica then reconnects with the same group.
    second = calls(clinic_a, 4)
    await send_events(stack.bootstrap, second)
    resumed = await _vendor_reads(stack.bootstrap, topic_a, group, {c.call_id for c in second})
    assert sorted(resumed) == sorted(c.call_id for c in second)  # no gap, nothing again
    # Vendor B's topic has B's calls and none of A's.
    seen_b = await _vendor_reads(stack.bootstrap, topic_b, f"vendor.{vendor_b}.replica", {c.call_id for c in for_b})
    assert sorted(seen_b) == sorted(c.call_id for c in for_b)


async def _call_row(stack: LocalStack, call_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await query(stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call_id)
        if rows and until(rows[0]):
            return rows[0]
        assert time.monotonic() < deadline, f"call {call_id}: {rows}"
        await asyncio.sleep(0.2)


async def _dead_letter_reasons(tap: EventTap, event_ids: list[str], timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = {
            h["ce_id"].decode(): h["dlq_reason"].decode()
            for h in (dict(r.headers) for r in tap.raw)
            if h.get("ce_id", b"").decode() in event_ids
        }
        if len(found) == len(event_ids):
            return found
        assert time.monotonic() < deadline, f"dead letters seen: {found}"
        await tap.poll()


async def test_a_vendor_reports_only_on_the_calls_handed_to_it_on_its_own_new_topic(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    # Both vendors are new to the running router: their topics appear after it subscribed, and its
    # pattern subscription picks them up without a restart.
    router = running["call-router"]
    vendor_a, vendor_b = uid("vend-ea"), uid("vend-eb")
    await _closed_clinic(stack, router, vendor_a)
    clinic_b = await _closed_clinic(stack, router, vendor_b)
    await _vendor_ready(stack, vendor_a)
    await _vendor_ready(stack, vendor_b)
    topic_a, topic_b = vendor_events_topic(vendor_a), vendor_events_topic(vendor_b)
    call_b = CallReceived(call_id=uid("call"), clinic_id=clinic_b, received_at=datetime.now(UTC), caller_token=uid("t"))
    await send_events(stack.bootstrap, [call_b])
    await _call_row(stack, call_b.call_id, lambda c: c["status"] == "with_vendor" and c["vendor_id"] == vendor_b)

    def answered(by: str) -> CallAnswered:
        return CallAnswered(
            call_id=call_b.call_id,
            clinic_id=clinic_b,
            answered_at=datetime.now(UTC),
            answered_by_kind="answering_service",
            answered_by_id=by,
        )

    ended = CallEnded(call_id=call_b.call_id, clinic_id=clinic_b, ended_at=datetime.now(UTC))
    async with EventTap(stack.bootstrap, [dlq_topic(topic_a), dlq_topic(topic_b)]) as dlq:
        # Vendor A answers (and ends) B's call as itself, then claims B answered it: none applies.
        wrong = await send_events(stack.bootstrap, [answered(vendor_a), answered(vendor_b), ended], topic=topic_a)
        reasons = await _dead_letter_reasons(dlq, wrong)
        assert [reasons[i].split(" (")[0] for i in wrong] == [
            "vendor event refused: the call was not handed to this vendor",
            "vendor event refused: the answer names someone other than the vendor",
            "vendor event refused: the call was not handed to this vendor",
        ]
        assert all(f"(vendor {vendor_a}, clinic {clinic_b})" in reasons[i] for i in wrong)
        assert (await _call_row(stack, call_b.call_id, lambda c: True))["status"] == "with_vendor"
        # Vendor B, whose call it is, on its own topic: applied.
        await send_events(stack.bootstrap, [answered(vendor_b), ended], topic=topic_b)
        row = await _call_row(stack, call_b.call_id, lambda c: c["status"] == "ended")
        assert (row["answered_by_kind"], row["answered_by_id"]) == ("answering_service", vendor_b)
        await dlq.settle(1.0)
        assert len(dlq.raw) == 3  # nothing of vendor B's was refused
