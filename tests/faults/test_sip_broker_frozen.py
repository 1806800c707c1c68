"""Real SIP calls while the broker is frozen: they still ring a live human, and their events reach the
bus once each when the broker returns.

The bridge gets no routing decision with Kafka frozen (SIGSTOP): after PHONE_BRIDGE_ROUTER_WAIT_SECONDS
(2 s) it rings by its own memory: the desks it last knew available (here a desk phone that registered
before the freeze), else the clinic's answering service. call.received, call.answered and call.ended
wait in the bridge's outbox and are published when the broker is thawed, none lost, none twice.
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
SLACK_MS = 150  # tm's timer fires up to ~60 ms early; SIPp's clock is per millisecond
BUDGET_MS = 18_000


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
    assert abs(result.invite_to_200_ms - (ROUTER_WAIT_MS + ANSWER_MS)) <= SLACK_MS
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


async def test_sip_a_call_rings_a_desk_last_known_available_with_the_broker_frozen(
    healthy: LocalStack, tmp_path: Path
) -> None:
    """A desk phone registered before the freeze: the bridge rings it from memory after its router wait
    (not the vendor, not silence), the desk answers inside the budget, and after the thaw the call's
    events and the desk's presence are on the bus once each."""
    rig = SipRig(tmp_path / "rig", healthy.bridge_sip_port)
    suffix = uuid.uuid4().hex[:8]
    try:
        desk = rig.phone(f"desk-{suffix}", "answers", answer_after_ms=ANSWER_MS)
        vendor = rig.phone(f"frozen-v-{suffix}", "never_answers")
        clinic_id = f"sip-frozen-desk-{suffix}"
        config = ClinicConfig.model_validate(
            {
                "clinic_id": clinic_id,
                "name": "Frozen Broker Desk Clinic",
                "timezone": "Asia/Kathmandu",
                "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                "phone": {
                    "answering_service": vendor.name,
                    "receptionists": [{"receptionist_id": desk.name}],
                    "sip": {"receptionists": {desk.name: desk.uri}, "vendors": {vendor.name: vendor.uri}},
                },
            }
        )
        await publish(healthy.bootstrap, [config])
        deadline = time.monotonic() + 60
        while clinic_id not in await asyncio.to_thread(healthy.service("phone-bridge").known_clinics):
            assert time.monotonic() < deadline, "phone-bridge never learned the clinic"
            await asyncio.sleep(0.2)
        rig.start_proxy()
        assert await asyncio.to_thread(rig.register, desk.name, expires_seconds=300)  # the desk phone is up
        kafka = healthy.kafka.process
        await signal_group(kafka.pid, signal.SIGSTOP)()
        try:
            result = await asyncio.to_thread(rig.call, clinic_id)
        finally:  # never leave the broker frozen for the next test
            await signal_group(kafka.pid, signal.SIGCONT)()
    finally:
        rig.stop()
    assert result.ok and result.invite_to_200_ms is not None
    print(f"broker frozen, desk from memory: INVITE -> 200 OK {result.invite_to_200_ms:.0f} ms")
    assert abs(result.invite_to_200_ms - (ROUTER_WAIT_MS + ANSWER_MS)) <= SLACK_MS
    assert result.invite_to_200_ms <= BUDGET_MS
    call_id = call_id_for(result.sip_call_id)
    topics = ["call.received", "call.answered", "call.ended"]
    async with EventTap(healthy.bootstrap, [*topics, "agent.status_changed"], from_beginning=True) as tap:
        for event_type in topics:
            await tap.wait_for(lambda e, t=event_type: e.type == t and e.data.call_id == call_id, timeout=90)  # type: ignore[attr-defined,misc]
        await tap.settle(3)
    ours = [e.type for e in tap.events if getattr(e.data, "call_id", None) == call_id]
    assert sorted(ours) == sorted(topics), ours  # each once
    [answered] = [e for e in tap.events if e.type == "call.answered" and e.data.call_id == call_id]  # type: ignore[attr-defined]
    assert (answered.data.answered_by_kind, answered.data.answered_by_id) == ("receptionist", desk.name)  # type: ignore[attr-defined]
    presence = [e.data.status for e in tap.events if e.type == "agent.status_changed" and e.data.clinic_id == clinic_id]  # type: ignore[attr-defined]
    assert presence == ["available"]
