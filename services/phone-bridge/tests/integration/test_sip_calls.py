"""Real SIP calls through Kamailio and phone-bridge, routed by call-router, at the default ring budget.

SIPp callers dial a clinic through Kamailio (deploy/sip/kamailio.cfg), which asks phone-bridge where
to ring; SIPp phones stand for receptionists and vendors that answer after a delay, never answer,
or are busy; desk phones register through the proxy. Each answered call asserts the INVITE -> 200 OK
time SIPp measured against the time the scenario makes expected, within +-150 ms on both sides (tm's
timer fires up to ~60 ms early; SIPp's clock is per millisecond), and inside the budget (18 s), and
the events on the bus.

The expected time is the moment the router decided the step that answered, counted from the call's
arrival at the bridge (from the events: call.received's received_at, then call.offered's offered_at
or call.overflowed's overflowed_at), plus how long that phone takes to answer. The router's decision
moments themselves carry the broker's jitter (call.received through the bridge's outbox and Kafka,
the router's database round trips, its timers): that part is measured and printed (`router`), and
where the scenario fixes it (a ring timeout, a hedge moment) asserted on its own; the +-150 ms then
holds the SIP side to the router's decision: the bridge's answer from memory, the proxy, the phones.
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
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.sip_rig import CallResult, Phone, SipRig
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

BUDGET_MS = 18_000.0  # the default: 3 rings of 6 s
TIMER_SLACK_MS = 150.0  # tm's ring timer fires up to ~60 ms early; SIPp's clock is per millisecond
# A decision through Kafka (the bridge's or the router's outbox, the broker, a consumer): 0.1-0.4 s on a
# shared 2-core machine; past the bridge's router wait (2 s) the bridge would ring from memory instead.
DELIVERY_LIMIT_MS = 1000.0
BRIDGE_TRYING_MS = 500.0  # kamailio.cfg: without the bridge's 100 Trying by then, the fallback rings
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
    "agent.status_changed",
    "call.declined",
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


def _on_time(
    result: CallResult,
    answerer: Phone,
    answer_ms: float,
    label: str,
    *,
    decided_ms: float | None = None,
    rings_at_ms: float | None = None,
) -> float:
    """SIPp's INVITE -> 200 OK against the scenario: the answering phone begins to ring (its 180, in
    SIPp's trace) and answers `answer_ms` later, +-150 ms, inside the budget. When it begins to ring is
    either fixed by the scenario (`rings_at_ms`, +-150 ms: no router in the path) or follows the
    router's decision (`decided_ms`, from the events) by the broker's delivery to the bridge, which is
    measured and printed, and bounded by DELIVERY_LIMIT_MS."""
    assert result.ok, f"{label}: SIPp's call did not complete"
    assert result.invite_to_200_ms is not None, f"{label}: no 200 OK measured"
    measured = result.invite_to_200_ms
    rang = result.ringing_ms[answerer.name]
    expected = rang + answer_ms
    print(
        f"{label}: INVITE -> 200 OK {measured:.0f} ms, expected {expected:.0f} ({measured - expected:+.0f});", end=" "
    )
    print(f"{answerer.name} rang at {rang:.0f} ms", end="")
    if decided_ms is not None:
        print(f", {rang - decided_ms:.0f} ms after the router decided (at {decided_ms:.0f} ms)")
        assert 0 <= rang - decided_ms <= DELIVERY_LIMIT_MS, f"{label}: the decision reached the phone late"
    else:
        print()
    if rings_at_ms is not None:
        assert abs(rang - rings_at_ms) <= TIMER_SLACK_MS, f"{label}: rang at {rang:.0f} ms, expected {rings_at_ms:.0f}"
    assert abs(measured - expected) <= TIMER_SLACK_MS, f"{label}: {measured:.0f} ms, expected {expected:.0f}"
    assert measured <= BUDGET_MS + TIMER_SLACK_MS
    return measured


async def _decided_ms(tap: EventTap, call_id: str, decision: Envelope[Event]) -> float:
    """When the router made `decision`, in ms after the call reached the bridge (call.received)."""
    [received] = await tap.wait_for(_of(call_id, "call.received"))
    at = getattr(decision.data, "offered_at", None) or decision.data.overflowed_at  # type: ignore[attr-defined]
    return float((at - received.data.received_at).total_seconds() * 1000)  # type: ignore[attr-defined]


async def _first_decision_ms(tap: EventTap, call_id: str, decision: Envelope[Event], label: str) -> float:
    """The router's first decision: call.received through the bridge's outbox, Kafka and the router's
    database, a round trip with the broker's jitter and nothing the scenario fixes: measured, bounded."""
    decided = await _decided_ms(tap, call_id, decision)
    print(f"{label}: the router's first decision came {decided:.0f} ms after the call")
    assert 0 <= decided <= DELIVERY_LIMIT_MS, f"{label}: the router decided {decided:.0f} ms after the call"
    return decided


async def test_sip_an_available_receptionist_answers(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "answers", answer_after_ms=1500)
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1], vendors=[(va, 6)])
    await _available(stack, clinic_id, r1)
    result = await asyncio.to_thread(rig.call, clinic_id)
    call_id = call_id_for(result.sip_call_id)
    [offered] = await tap.wait_for(_of(call_id, "call.offered"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    await tap.wait_for(_of(call_id, "call.ended"))
    label = "available receptionist"
    _on_time(result, r1, 1500, label, decided_ms=await _first_decision_ms(tap, call_id, offered, label))
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
    call_id = call_id_for(result.sip_call_id)
    offers = await tap.wait_for(_of(call_id, "call.offered"), count=2)
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    [paused] = await tap.wait_for(lambda e: e.type == "agent.auto_paused" and e.data.call_id == call_id)  # type: ignore[attr-defined]
    # r1 rings its 3 s offer out; the router's ring timer then offers r2, who answers after 1.5 s
    label = "next receptionist"
    first = await _first_decision_ms(tap, call_id, offers[0], label)
    second = await _decided_ms(tap, call_id, offers[1])
    print(f"{label}: r1 offered at {first:.0f} ms, r2 {second - first:.0f} ms later (r1's ring timeout: 3000)")
    assert 3000 <= second - first <= 3000 + TIMER_SLACK_MS, f"the ring timeout took {second - first:.0f} ms"
    assert r1.name in result.ringing_ms
    _on_time(result, r2, 1500, label, decided_ms=second)
    assert [o.data.target_id for o in offers] == [r1.name, r2.name]  # type: ignore[attr-defined]
    assert answered.data.answered_by_id == r2.name  # type: ignore[attr-defined]
    assert paused.data.receptionist_id == r1.name  # type: ignore[attr-defined]


async def test_sip_a_busy_receptionist_is_declined_and_the_next_rings_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "busy")  # 486 at once
    r2 = rig.phone(uid("r"), "answers", answer_after_ms=1500)
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1, r2], vendors=[(va, 6)])
    await _available(stack, clinic_id, r1, r2)
    result = await asyncio.to_thread(rig.call, clinic_id)
    call_id = call_id_for(result.sip_call_id)
    offers = await tap.wait_for(_of(call_id, "call.offered"), count=2)
    [declined] = await tap.wait_for(_of(call_id, "call.declined"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    await tap.wait_for(_of(call_id, "call.ended"))
    assert [o.data.target_id for o in offers] == [r1.name, r2.name]  # type: ignore[attr-defined]
    assert (declined.data.attempt, declined.data.reason) == (1, "busy")  # type: ignore[attr-defined]
    assert answered.data.answered_by_id == r2.name  # type: ignore[attr-defined]
    # r1's 486 ends its offer at once: r2 is offered long before r1's 3 s ring timeout, and r1 is not paused
    label = "busy receptionist"
    first = await _first_decision_ms(tap, call_id, offers[0], label)
    second = await _decided_ms(tap, call_id, offers[1])
    print(f"{label}: r1 offered at {first:.0f} ms, declined, r2 offered {second - first:.0f} ms later")
    assert second - first <= 2 * DELIVERY_LIMIT_MS, "the next receptionist rang only at the busy one's ring timeout"
    assert second - first < 3000, "the next receptionist rang only at the busy one's ring timeout"
    _on_time(result, r2, 1500, label, decided_ms=second)
    await tap.settle(1)
    assert tap.matching(lambda e: e.type == "agent.auto_paused" and e.data.call_id == call_id) == []  # type: ignore[attr-defined]


async def test_sip_desk_phones_registering_are_available_and_offline_when_unregistered_or_expired(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "answers", answer_after_ms=1000)
    r2 = rig.phone(uid("r"), "answers", answer_after_ms=1000)  # registers for 2 s and never refreshes
    va = rig.phone(uid("v"), "never_answers")
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1, r2], vendors=[(va, 6)])

    def status_of(name: str, status: str) -> Any:
        return lambda e: e.type == "agent.status_changed" and (e.data.receptionist_id, e.data.status) == (name, status)

    assert await asyncio.to_thread(rig.register, r1.name, expires_seconds=60)
    assert await asyncio.to_thread(rig.register, r2.name, expires_seconds=2)
    [r1_on] = await tap.wait_for(status_of(r1.name, "available"))
    [r2_on] = await tap.wait_for(status_of(r2.name, "available"))
    [r2_off] = await tap.wait_for(status_of(r2.name, "offline"), timeout=10)
    expired_after = (r2_off.data.changed_at - r2_on.data.changed_at).total_seconds()  # type: ignore[attr-defined]
    assert expired_after == 2.0, expired_after  # the registration's own end, not when the bridge noticed
    assert (r1_on.data.clinic_id, r2_on.data.clinic_id) == (clinic_id, clinic_id)  # type: ignore[attr-defined]
    sql = "SELECT receptionist_id, status FROM agents WHERE clinic_id = $1 ORDER BY receptionist_id"
    want = sorted([(r1.name, "available"), (r2.name, "offline")])
    deadline = time.monotonic() + 30
    while (
        seen := sorted(
            (r["receptionist_id"], r["status"]) for r in await query(stack.database_url("call-router"), sql, clinic_id)
        )
    ) != want:
        assert time.monotonic() < deadline, f"call-router never saw the desk phones' presence: {seen}"
        await asyncio.sleep(0.1)

    result = await asyncio.to_thread(rig.call, clinic_id)  # r1 is the only one available
    call_id = call_id_for(result.sip_call_id)
    [offered] = await tap.wait_for(_of(call_id, "call.offered"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    assert offered.data.target_id == answered.data.answered_by_id == r1.name  # type: ignore[attr-defined]
    decided = await _first_decision_ms(tap, call_id, offered, "registered desk")
    _on_time(result, r1, 1000, "registered desk", decided_ms=decided)

    assert await asyncio.to_thread(rig.register, r1.name, expires_seconds=0)
    await tap.wait_for(status_of(r1.name, "offline"))
    await tap.settle(1)
    ours = [e for e in tap.events if e.type == "agent.status_changed" and e.data.clinic_id == clinic_id]  # type: ignore[attr-defined]
    assert [(e.data.receptionist_id, e.data.status) for e in ours] == [  # type: ignore[attr-defined]
        (r1.name, "available"),
        (r2.name, "available"),
        (r2.name, "offline"),
        (r1.name, "offline"),
    ]
    # the bridge keeps each desk's last presence for a restart (what it rings by when the router is silent)
    kept = "SELECT receptionist_id, status FROM desk_presence WHERE clinic_id = $1"
    deadline = time.monotonic() + 30
    while sorted(
        (r["receptionist_id"], r["status"]) for r in await query(stack.database_url("phone-bridge"), kept, clinic_id)
    ) != sorted([(r1.name, "offline"), (r2.name, "offline")]):
        assert time.monotonic() < deadline, "phone-bridge never stored the desks' presence"
        await asyncio.sleep(0.1)


async def test_sip_nobody_free_rings_the_vendor_within_the_budget(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    r1 = rig.phone(uid("r"), "busy")  # never offered: nobody is available
    va = rig.phone(uid("v"), "answers", answer_after_ms=1000)
    clinic_id = await _clinic(stack, running, open_=True, receptionists=[r1], vendors=[(va, 6)])
    result = await asyncio.to_thread(rig.call, clinic_id)
    call_id = call_id_for(result.sip_call_id)
    [overflowed] = await tap.wait_for(_of(call_id, "call.overflowed"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    decided = await _first_decision_ms(tap, call_id, overflowed, "nobody free")
    _on_time(result, va, 1000, "nobody free", decided_ms=decided)
    assert overflowed.data.vendor_id == va.name  # type: ignore[attr-defined]
    assert (answered.data.answered_by_kind, answered.data.answered_by_id) == ("answering_service", va.name)  # type: ignore[attr-defined]
    assert tap.matching(_of(call_id, "call.offered")) == []


async def test_sip_a_closed_clinic_rings_the_vendor_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess], rig: SipRig, tap: EventTap
) -> None:
    va = rig.phone(uid("v"), "answers", answer_after_ms=1000)
    clinic_id = await _clinic(stack, running, open_=False, vendors=[(va, 6)])
    result = await asyncio.to_thread(rig.call, clinic_id)
    call_id = call_id_for(result.sip_call_id)
    [overflowed] = await tap.wait_for(_of(call_id, "call.overflowed"))
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    decided = await _first_decision_ms(tap, call_id, overflowed, "closed clinic")  # at once, not after a desk
    _on_time(result, va, 1000, "closed clinic", decided_ms=decided)
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
    call_id = call_id_for(result.sip_call_id)
    handed = await tap.wait_for(_of(call_id, "call.overflowed"), count=2)
    [answered] = await tap.wait_for(_of(call_id, "call.answered"))
    label = "silent primary"
    await _first_decision_ms(tap, call_id, handed[0], label)
    hedge = await _decided_ms(tap, call_id, handed[1])
    print(f"{label}: the secondary was handed the call at {hedge:.0f} ms (the budget's end - its 6 s: 12000)")
    assert 12_000 <= hedge <= 12_000 + TIMER_SLACK_MS, f"the hedge came at {hedge:.0f} ms"
    _on_time(result, vb, 1000, label, decided_ms=hedge)
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
    _on_time(result, fallback, 1000, "bridge killed", rings_at_ms=500)


async def test_sip_a_number_no_clinic_has_yet_rings_the_fallback_answering_service(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    """A new clinic's number whose configuration has not reached the bridge yet: its caller reaches the
    proxy's fallback answering service at once (the bridge's 404), never a 480."""
    sip = SipRig(tmp_path / "rig", stack.bridge_sip_port)
    try:
        fallback = sip.phone("fallback", "answers", answer_after_ms=1000)
        sip.fallback_uri = fallback.uri
        sip.start_proxy()
        result = await asyncio.to_thread(sip.call, uid("not-configured"))
    finally:
        sip.stop()
    _on_time(result, fallback, 1000, "unknown number")
    assert result.ringing_ms[fallback.name] < BRIDGE_TRYING_MS, "the proxy waited for the bridge instead of its answer"


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
