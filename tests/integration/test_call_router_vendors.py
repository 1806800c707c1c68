"""Per-vendor topics over the real broker.

Proves: the router provisions `vendor.<id>.calls` for the vendors clinics name and publishes there
only the calls handed to that vendor (another vendor's topic never sees them); a vendor replica
that stops (an outage) and reconnects with its consumer group resumes from its committed offset:
every call once, no gaps, no repeats.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer

from frontdesk.common.cloudevents import decode
from frontdesk.common.contracts import CallOverflowed, CallReceived, ClinicConfig, vendor_calls_topic
from frontdesk.common.kafka import make_admin
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .helpers import query, send_events, uid


async def _closed_clinic(stack: LocalStack, router: ServiceProcess, vendor: str) -> str:
    clinic_id = uid("crv")
    config = ClinicConfig.model_validate(
        {"clinic_id": clinic_id, "name": "Vendor Clinic", "timezone": "UTC", "phone": {"answering_service": vendor}}
    )
    await publish(stack.bootstrap, [config])
    async with httpx.AsyncClient() as client:
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
        assert vendor_calls_topic(vendor_id) in await admin.list_topics()
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
