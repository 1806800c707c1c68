"""Real SIP calls through Kamailio and phone-bridge, routed by call-router, at the default ring budget.

SIPp callers dial a clinic through Kamailio (deploy/sip/kamailio.cfg), which asks phone-bridge where
to ring; SIPp phones stand for receptionists and vendors that answer after a delay, never answer,
or are busy. Each test asserts the INVITE -> 200 OK time SIPp measured against the budget (18 s,
+150 ms for tm's timer) and the scenario's own floor, and the events on the bus.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import AgentStatusChanged, ClinicConfig, Event
from frontdesk.phone_bridge.domain.calls import call_id_for
from frontdesk.tools.apply import publish
from frontdesk.tools.sip_rig import CallResult, Phone, SipRig
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .helpers import query, send_events, uid

BUDGET_MS = 18_000.0  # the default: 3 rings of 6 s
TIMER_SLACK_MS = 150.0  # tm's ring timer fires up to ~60 ms early; SIPp's clock is per millisecond
ALL_WEEK = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
TOPICS = [
    "call.received",
    "call.offered",
    "call.overflowed",
    "call.answered",
    "call.abandoned",
    "call.ended",
    "callback.requested",
    "agent.auto_paused",
]


@pytest.fixture(scope="module")
def rig(stack: LocalStack) -> Iterator[SipRig]:
    sip = SipRig(Path(tempfile.mkdtemp(prefix="frontdesk-sip-rig-")), stack.bridge_sip_port)
    sip.start_proxy()
    try:
        yield sip
    finally:
        sip.stop()


@pytest.fixture
async def tap(stack: LocalStack) -> AsyncIterator[EventTap]:
    async with EventTap(stack.bootstrap, TOPICS) as events:
        yield events


async def _clinic(
    stack: LocalStack,
    running: dict[str, ServiceProcess],
    *,
    open_: bool,
    receptionists: list[Phone] = (),  # type: ignore[assignment]
    vendors: list[tuple[Phone, float]],
    **phone: Any,
) -> str:
    """A clinic at the default budget whose receptionists and vendors are these SIPp phones."""
    clinic_id = uid("sip")
    vendor_ids = [p.name for p, _ in vendors]
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "SIP Test Clinic",
            "timezone": "Pacific/Chatham",  # +12:45/+13:45: an unusual zone, open all week anyway
            "hours": ALL_WEEK if open_ else {},
            "phone": {
                "answering_service": vendor_ids[0],
                "secondary_answering_service": vendor_ids[1] if len(vendor_ids) > 1 else None,
                "vendors": [{"vendor_id": p.name, "answer_target_seconds": t} for p, t in vendors],
                "receptionists": [{"receptionist_id": p.name} for p in receptionists],
                "pools": [
                    {
                        "pool_id": "desk",
                        "members": [p.name for p in receptionists],
                        "strategy": "longest_idle",
                        "offer_timeout_seconds": 3,
                    }
                ],
                "sip": {
                    "receptionists": {p.name: p.uri for p in receptionists},
                    "vendors": {p.name: p.uri for p, _ in vendors},
                },
                **phone,
            },
        }
    )
    assert config.phone.ring_budget_seconds * 1000 == BUDGET_MS
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    url = stack.database_url("call-router")
    sql = "SELECT 1 FROM vendor_topics WHERE vendor_id = ANY($1) AND ready"
    while len(await query(url, sql, vendor_ids)) < len(vendor_ids):
        assert time.monotonic() < deadline, "call-router never provisioned the vendors' topics"
        await asyncio.sleep(0.3)
    for name in ("call-router", "phone-bridge"):
        while clinic_id not in await asyncio.to_thread(running[name].known_clinics):
            assert time.monotonic() < deadline, f"{name} never learned the clinic"
            await asyncio.sleep(0.2)
    return clinic_id


async def _available(stack: LocalStack, clinic_id: str, *receptionists: Phone) -> None:
    """Each receptionist available, in this order (the first is then the longest idle)."""
    for phone in receptionists:
        event = AgentStatusChanged(
            clinic_id=clinic_id, receptionist_id=phone.name, status="available", changed_at=datetime.now(UTC)
        )
        await send_events(stack.bootstrap, [event])
        await asyncio.sleep(0.05)
    sql = "SELECT 1 FROM agents WHERE clinic_id = $1 AND status = 'available'"
    deadline = time.monotonic() + 30
    while len(await query(stack.database_url("call-router"), sql, clinic_id)) < len(receptionists):
        assert time.monotonic() < deadline, "call-router never saw the receptionists available"
        await asyncio.sleep(0.1)


def _of(call_id: str, event_type: str) -> Any:
    def match(e: Envelope[Event]) -> bool:
        return e.type == event_type and getattr(e.data, "call_id", None) == call_id

    return match


def _within_budget(result: CallResult, floor_ms: float, label: str) -> float:
    """SIPp's INVITE -> 200 OK: inside the budget, and not before the scenario allows."""
    assert result.ok, f"{label}: SIPp's call did not complete"
    assert result.invite_to_200_ms is not None, f"{label}: no 200 OK measured"
    print(f"{label}: INVITE -> 200 OK {result.invite_to_200_ms:.0f} ms (floor {floor_ms:.0f}, budget {BUDGET_MS:.0f})")
    assert floor_ms - TIMER_SLACK_MS <= result.invite_to_200_ms <= BUDGET_MS + TIMER_SLACK_MS
    return result.invite_to_200_ms


async def test_sip_an_available_receptionist_answers(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "answers", answer_after_ms=1500)
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1], vendors=[(va, 6)])
    await _available(stack, clinic_id, r1)
    result = await asyncio.to_thread(rig.call, clinic_id)
    _within_budget(result, 1500, "available receptionist")
    call_id = call_id_for(result.sip_call_id)
    [offered] = await tap.wait_for(_of(call_id, "call.offered"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    await tap.wait_for(_of(call_id, "call.ended"))
    assert offered.data.target_id == r1.name  # type: ignore[attr-defined]
    assert (answered.data.answered_by_kind, answered.data.answered_by_id) == ("receptionist", r1.name)  # type: ignore[attr-defined]
    assert tap.matching(_of(call_id, "call.overflowed")) == []


async def test_sip_a_receptionist_who_does_not_answer_is_cancelled_and_the_next_rings(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "never_answers")
    r2 = rig.phone(uid("r"), "answers", answer_after_ms=1500)
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1, r2], vendors=[(va, 6)])
    await _available(stack, clinic_id, r1, r2)
    result = await asyncio.to_thread(rig.call, clinic_id)
    _within_budget(result, 3000 + 1500, "next receptionist")  # r1's 3 s offer, then r2's 1.5 s
    call_id = call_id_for(result.sip_call_id)
    offers = await tap.wait_for(_of(call_id, "call.offered"), count=2)
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    [paused] = await tap.wait_for(lambda e: e.type == "agent.auto_paused" and e.data.call_id == call_id)  # type: ignore[attr-defined]
    assert [o.data.target_id for o in offers] == [r1.name, r2.name]  # type: ignore[attr-defined]
    assert answered.data.answered_by_id == r2.name  # type: ignore[attr-defined]
    assert paused.data.receptionist_id == r1.name  # type: ignore[attr-defined]


async def test_sip_nobody_free_rings_the_vendor_within_the_budget(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "busy")  # never offered: nobody is available
    va = rig.phone(uid("v"), "answers", answer_after_ms=1000)
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1], vendors=[(va, 6)])
    result = await asyncio.to_thread(rig.call, clinic_id)
    _within_budget(result, 1000, "nobody free")
    call_id = call_id_for(result.sip_call_id)
    [overflowed] = await tap.wait_for(_of(call_id, "call.overflowed"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    assert overflowed.data.vendor_id == va.name  # type: ignore[attr-defined]
    assert (answered.data.answered_by_kind, answered.data.answered_by_id) == ("answering_service", va.name)  # type: ignore[attr-defined]
    assert tap.matching(_of(call_id, "call.offered")) == []


async def test_sip_a_closed_clinic_rings_the_vendor_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    va = rig.phone(uid("v"), "answers", answer_after_ms=1000)
    clinic_id = await _clinic(stack, running, open_=False, vendors=[(va, 6)])
    result = await asyncio.to_thread(rig.call, clinic_id)
    measured = _within_budget(result, 1000, "closed clinic")
    assert measured <= 1000 + 1500, "the vendor should ring at once, not after a desk"
    call_id = call_id_for(result.sip_call_id)
    [overflowed] = await tap.wait_for(_of(call_id, "call.overflowed"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    assert overflowed.data.reason in ("after_hours", "closure")  # type: ignore[attr-defined]
    assert answered.data.answered_by_id == va.name  # type: ignore[attr-defined]


async def test_sip_a_caller_who_hangs_up_while_it_rings_is_abandoned_and_called_back(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "never_answers")
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1], vendors=[(va, 6)])
    await _available(stack, clinic_id, r1)
    result = await asyncio.to_thread(rig.call, clinic_id, hang_up_after_ms=1500)
    assert result.ok and result.invite_to_200_ms is None
    call_id = call_id_for(result.sip_call_id)
    [abandoned] = await tap.wait_for(_of(call_id, "call.abandoned"))
    [callback] = await tap.wait_for(lambda e: e.type == "callback.requested" and e.data.clinic_id == clinic_id)  # type: ignore[attr-defined]
    assert callback.data.reason == "abandoned_call"  # type: ignore[attr-defined]
    assert tap.matching(_of(call_id, "call.answered")) == []
    assert abandoned.data.abandoned_at > datetime.now(UTC).replace(year=2000)  # type: ignore[attr-defined]


async def test_sip_a_silent_primary_vendor_leaves_the_secondary_time_to_answer(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    # Closed: the primary (15 s to answer) rings at once and never answers; the secondary (6 s) is
    # handed the call too at 18 - 6 = 12 s, both ring, the secondary answers after 1 s.
    va = rig.phone(uid("v"), "never_answers")
    vb = rig.phone(uid("v"), "answers", answer_after_ms=1000)
    clinic_id = await _clinic(
        stack,
        running,
        open_=False,
        vendors=[(va, 15), (vb, 6)],
        pools=[{"pool_id": "desk", "offer_timeout_seconds": 3}],
    )
    result = await asyncio.to_thread(rig.call, clinic_id)
    _within_budget(result, 12_000 + 1000, "silent primary")
    call_id = call_id_for(result.sip_call_id)
    handed = await tap.wait_for(_of(call_id, "call.overflowed"), count=2)
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    assert [h.data.vendor_id for h in handed] == [va.name, vb.name]  # type: ignore[attr-defined]
    assert handed[1].data.reason == "vendor_hedge"  # type: ignore[attr-defined]
    assert (answered.data.answered_by_kind, answered.data.answered_by_id) == ("answering_service", vb.name)  # type: ignore[attr-defined]


async def test_sip_the_bridge_killed_sends_callers_to_the_fallback_answering_service(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    """No bridge to ask: the proxy's fallback answering service takes the call at once, never silence
    (the `running` fixture restarts the bridge for the tests after this one)."""
    sip = SipRig(tmp_path / "rig", stack.bridge_sip_port)
    try:
        fallback = sip.phone("fallback", "answers", answer_after_ms=1000)
        sip.fallback_uri = fallback.uri
        sip.start_proxy()
        running["phone-bridge"].kill()
        result = await asyncio.to_thread(sip.call, "test-always-open")
    finally:
        sip.stop()
    # 500 ms without the bridge's 100 Trying (BRIDGE_TRYING_MS), then the fallback's 1 s to answer
    measured = _within_budget(result, 1000 + 500, "bridge killed")
    assert measured <= 1000 + 500 + 1000


async def test_sip_the_routing_question_over_http_answers_and_checks_who_asks(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig
) -> None:
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=False, vendors=[(va, 6)])
    bridge = running["phone-bridge"]
    url = bridge.url + "/v1/sip/route"
    question = {"sip_call_id": uid("http-call") + "@pbx", "dialled": clinic_id, "caller": "+15551230000"}
    other = {"Authorization": f"Bearer {stack.api_token(clinics=['test-always-open'])}"}
    async with bridge.client(timeout=10) as client:
        assert (await client.post(url, json={**question, "dialled": "+1 555"})).status_code == 422
        assert (await client.post(url, json={**question, "dialled": "no-such-clinic"})).status_code == 404
        assert (await client.post(url, json=question, headers=other)).status_code == 403
        answer = (await client.post(url, json=question)).json()
    assert answer["action"] == "ring" and answer["uris"] == [va.uri] and answer["timeout_ms"] > 0
