"""A real SIP call while the broker is frozen: it still rings a live human, and its events reach the bus
once each when the broker returns.

The bridge gets no routing decision with Kafka frozen (SIGSTOP): after PHONE_BRIDGE_ROUTER_WAIT_SECONDS
(2 s) it rings the clinic's answering service, which answers; call.received, call.answered and
call.ended wait in the bridge's outbox and are published when the broker is thawed, none lost, none
twice. (Ringing the desks by the last known presence while the broker is frozen is not done: the
bridge does not route by itself.)
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

from frontdesk.common.contracts import ClinicConfig
from frontdesk.phone_bridge.domain.calls import call_id_for
from frontdesk.tools.apply import publish
from frontdesk.tools.sip_rig import SipRig
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap

from .helpers import signal_group

ROUTER_WAIT_MS = 2000  # PHONE_BRIDGE_ROUTER_WAIT_SECONDS' default
ANSWER_MS = 1000


async def test_sip_a_call_rings_a_vendor_with_the_broker_frozen_and_its_events_arrive_once(
    healthy: LocalStack, tmp_path: Path
) -> None:
    rig = SipRig(tmp_path / "rig", healthy.bridge_sip_port)
    try:
        vendor = rig.phone(f"frozen-{uuid.uuid4().hex[:8]}", "answers", answer_after_ms=ANSWER_MS)
        clinic_id = f"sip-frozen-{uuid.uuid4().hex[:8]}"
        config = ClinicConfig.model_validate(
            {
                "clinic_id": clinic_id,
                "name": "Frozen Broker Clinic",
                "timezone": "Australia/Eucla",
                "phone": {"answering_service": vendor.name, "sip": {"vendors": {vendor.name: vendor.uri}}},
            }
        )
        await publish(healthy.bootstrap, [config])
        deadline = time.monotonic() + 60
        while clinic_id not in await asyncio.to_thread(healthy.service("phone-bridge").known_clinics):
            assert time.monotonic() < deadline, "phone-bridge never learned the clinic"
            await asyncio.sleep(0.2)
        rig.start_proxy()
        kafka = healthy.kafka.process
        await signal_group(kafka.pid, signal.SIGSTOP)()
        try:
            result = await asyncio.to_thread(rig.call, clinic_id)
        finally:  # never leave the broker frozen for the next test
            await signal_group(kafka.pid, signal.SIGCONT)()
    finally:
        rig.stop()
    assert result.ok and result.invite_to_200_ms is not None
    print(f"broker frozen: INVITE -> 200 OK {result.invite_to_200_ms:.0f} ms")
    assert result.invite_to_200_ms <= ROUTER_WAIT_MS + ANSWER_MS + 1000
    call_id = call_id_for(result.sip_call_id)
    topics = ["call.received", "call.answered", "call.ended"]
    async with EventTap(healthy.bootstrap, topics, from_beginning=True) as tap:
        for event_type in topics:
            await tap.wait_for(lambda e, t=event_type: e.type == t and e.data.call_id == call_id, timeout=90)  # type: ignore[attr-defined,misc]
        await tap.settle(3)
    ours = [e.type for e in tap.events if getattr(e.data, "call_id", None) == call_id]
    assert sorted(ours) == sorted(topics), ours  # each once
    [answered] = [e for e in tap.events if e.type == "call.answered" and e.data.call_id == call_id]  # type: ignore[attr-defined]
    assert answered.data.answered_by_id == vendor.name  # type: ignore[attr-defined]
