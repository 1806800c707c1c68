"""Vendors that stay silent, over the real broker and database, at the default ring budget (18 s).

Proves, from broker timestamps: several calls of one clinic at once, its one receptionist present
but never picking up and its primary vendor silent, each reach the secondary by the latest moment
it can answer and are answered within the budget, the receptionist ringing for one call only and
the primary offered each call once and withdrawn from each; a call of an unknown clinic held by the
network fallback's vendor, whose clinic is configured moments later, is offered to the clinic's
vendor at the fallback vendor's hedge moment (not at its missed target); a vendor silent for one
clinic only (marked failed when it misses that clinic's call) is still offered another clinic's
calls in time, when the vendor that takes them first is the silent one there; an urgent call's
on-call page reaches the provider through the other vendor as soon as that vendor is offered the
call (not at the next re-send) when the vendor that had it is silent, and once a vendor answers,
its later pages go through that vendor only (not through the one told the call is withdrawn).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallReceived,
    ClinicConfig,
    NetworkFallback,
    OnCallPageRequested,
    vendor_calls_topic,
    vendor_events_topic,
)
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_budget import (
    BUDGET,
    Clinic,
    _answer,
    _broker_seconds,
    _call,
    _clinic,
    _on,
    _row,
    _since_received,
    _topics,
)
from .test_call_router_fallback import _network, _publish_clinic
from .test_call_router_vendors import _vendor_ready

RESEND = 15.0  # the on-call provider's page is re-sent this often until acknowledged


async def test_an_urgent_call_s_page_goes_through_whichever_vendor_has_the_call(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # Equal 12 s targets: the primary has the call at once (urgent), the secondary too 6 s in.
    on_call = [{"provider_id": "dr-first", "resend_every_seconds": RESEND, "escalate_after_seconds": 600}]
    c = await _clinic(stack, router, open_=True, va={}, vb={}, on_call=on_call)
    call = CallReceived(
        call_id=uid("call"),
        clinic_id=c.clinic_id,
        received_at=datetime.now(UTC),
        caller_token=uid("t"),
        intent="urgent",
    )

    def page(vendor_id: str, resend: int) -> object:
        def match(e: object) -> bool:
            data = getattr(e, "data", None)
            return (
                getattr(e, "topic", None) == vendor_calls_topic(vendor_id)
                and isinstance(data, OnCallPageRequested)
                and data.call_id == call.call_id
                and data.resend == resend
            )

        return match

    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [call])
        [first_a] = await tap.wait_for(page(c.va, 0), timeout=60)
        # The primary stays silent: the secondary, offered the call 6 s in, delivers the page then.
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
        [first_b] = await tap.wait_for(page(c.vb, 0), timeout=60)
        b_paged_after = await _since_received(tap, call, first_b)
        # Then the primary answers after all: the secondary is withdrawn, and the re-send goes
        # through the primary, which has the caller, alone.
        await send_events(stack.bootstrap, [_answer(c, call, c.va)], topic=vendor_events_topic(c.va))
        await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.withdrawn"), timeout=60)
        [resent] = await tap.wait_for(page(c.va, 1), timeout=60)
        await tap.settle(1.0)
    print(f"silent primary, urgent call: the secondary delivered the page {b_paged_after:.2f} s after arrival")
    assert first_b.data.page_id == first_a.data.page_id  # type: ignore[attr-defined]  # one page, two carriers
    assert first_b.data.vendor_id == c.vb  # type: ignore[attr-defined]
    assert b_paged_after < min(BUDGET, RESEND)  # not at the re-send
    assert _broker_seconds(tap, first_b) - _broker_seconds(tap, to_b) < 2.0
    assert resent.data.vendor_id == c.va  # type: ignore[attr-defined]
    assert tap.matching(page(c.vb, 1)) == []  # not through the vendor the call was withdrawn from
    await _row(stack, "SELECT 1 FROM call_pages WHERE call_id = $1 AND status = 'paging'", call.call_id)


async def _clinics_sharing_vendors(stack: LocalStack, router: ServiceProcess) -> tuple[Clinic, Clinic]:
    """Two clinics, closed (their calls go to the vendors at once), with the same two vendors at the
    default 12 s answer target: the primary has a call at once, the secondary too 6 s in."""
    x, y = uid("crx"), uid("cry")
    a, b = f"{x}-va", f"{x}-vb"
    configs = [
        ClinicConfig.model_validate(
            {
                "clinic_id": clinic_id,
                "name": "Shared Vendors Clinic",
                "timezone": "America/Chicago",
                "phone": {
                    "answering_service": a,
                    "secondary_answering_service": b,
                    "vendors": [{"vendor_id": a}, {"vendor_id": b}],
                },
            }
        )
        for clinic_id in (x, y)
    ]
    await publish(stack.bootstrap, configs)
    url = stack.database_url("call-router")
    deadline = time.monotonic() + 60
    while len(await query(url, "SELECT 1 FROM vendor_topics WHERE vendor_id = ANY($1) AND ready", [a, b])) < 2:
        assert time.monotonic() < deadline, "call-router never provisioned the vendors' topics"
        await asyncio.sleep(0.3)
    while not {x, y} <= set(await asyncio.to_thread(router.known_clinics)):
        assert time.monotonic() < deadline, "call-router never learned the clinics"
        await asyncio.sleep(0.2)
    return Clinic(x, a, b), Clinic(y, a, b)


async def test_a_vendor_silent_for_one_clinic_is_still_offered_another_s_calls_in_time(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    x, y = await _clinics_sharing_vendors(stack, router)
    a, b = x.va, x.vb
    first = _call(x.clinic_id)
    async with EventTap(stack.bootstrap, _topics(x)) as tap:
        # The primary is silent for clinic x: past its target (nobody answered yet) it is marked
        # failed, for every clinic; the secondary, offered the call too, answers it within its own.
        await send_events(stack.bootstrap, [first])
        await tap.wait_for(_on(vendor_calls_topic(b), first.call_id, "call.overflowed"), timeout=60)
        failed = "SELECT 1 FROM vendor_health WHERE vendor_id = $1 AND failed_until > now()"
        await _row(stack, failed, a)
        await send_events(stack.bootstrap, [_answer(x, first, b)], topic=vendor_events_topic(b))
        # Clinic y's call goes to the secondary first, which is the silent one for y: the primary,
        # which answers y's calls, is offered it by the latest moment it can still answer in time.
        second = _call(y.clinic_id)  # received now: its budget starts here
        await send_events(stack.bootstrap, [second])
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(b), second.call_id, "call.overflowed"), timeout=60)
        [to_a] = await tap.wait_for(_on(vendor_calls_topic(a), second.call_id, "call.overflowed"), timeout=60)
        await send_events(stack.bootstrap, [_answer(y, second, a)], topic=vendor_events_topic(a))
        [answered] = await tap.wait_for(_on(vendor_events_topic(a), second.call_id, "call.answered"))
        await tap.wait_for(_on(vendor_calls_topic(b), second.call_id, "call.withdrawn"), timeout=60)
        await tap.settle(1.0)
    offered_after = await _since_received(tap, second, to_a)
    answered_after = await _since_received(tap, second, answered)
    print(f"vendor silent for one clinic: offered another's call {offered_after:.2f} s after arrival")
    assert (to_b.data.reason, to_a.data.reason) == ("after_hours", "vendor_hedge")  # type: ignore[attr-defined]
    latest = BUDGET - 12.0  # the latest moment the primary can still answer within the budget
    assert offered_after <= latest + 1.5 and answered_after <= BUDGET
    assert len(tap.matching(_on(vendor_calls_topic(a), second.call_id, "call.overflowed"))) == 1
    [row] = await query(stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", second.call_id)
    assert (row["status"], row["answered_by_id"]) == ("answered", a)


async def test_a_fallback_call_whose_clinic_arrives_is_offered_to_the_clinic_s_vendor_at_the_hedge(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # The fallback's vendors need the default 12 s: the primary has the call at once, the other is
    # due 6 s in. The clinic is configured within those 6 s, naming vendors of its own.
    fa, fb = uid("fb-a"), uid("fb-b")
    await _network(
        stack,
        NetworkFallback(
            answering_service=fa, secondary_answering_service=fb, vendors=[{"vendor_id": fa}, {"vendor_id": fb}]
        ),
    )
    await _vendor_ready(stack, fa)
    clinic_id = uid("late")
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, ["call.received", "call.routed", "call.overflowed"]) as tap:
        await send_events(stack.bootstrap, [call])
        [held] = await tap.wait_for(_on("call.overflowed", call.call_id, "call.overflowed"), timeout=60)
        await _publish_clinic(stack, router, clinic_id)  # its own vendor, <clinic_id>-v
        [to_clinic] = await tap.wait_for(
            lambda e: _on("call.overflowed", call.call_id, "call.overflowed")(e) and e.data.vendor_id != fa,
            timeout=60,
        )
        await tap.settle(1.0)
    offered_after = await _since_received(tap, call, to_clinic)
    print(f"fallback call, clinic configured meanwhile: its vendor offered the call {offered_after:.2f} s in")
    assert held.data.vendor_id == fa  # type: ignore[attr-defined]
    assert (to_clinic.data.vendor_id, to_clinic.data.reason) == (f"{clinic_id}-v", "vendor_hedge")  # type: ignore[attr-defined]
    assert offered_after <= BUDGET - 12.0 + 1.5  # the latest moment a 12 s vendor can answer in time
    # the fallback's other vendor, which the clinic does not name, was not offered it
    assert [e.data.vendor_id for e in tap.matching(_on("call.overflowed", call.call_id, "call.overflowed"))] == [  # type: ignore[attr-defined]
        fa,
        f"{clinic_id}-v",
    ]


async def test_several_calls_at_once_with_an_absent_desk_and_a_silent_primary(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # Default 12 s targets: the desk rings until 6 s in, then both vendors; a call the desk cannot
    # take goes to the primary at once and to the secondary 6 s in.
    desk = {"pool_id": "desk", "members": ["r1"], "autopause": False}  # she stays "available"
    c = await _clinic(stack, router, open_=True, va={}, vb={}, receptionists=[{"receptionist_id": "r1"}], pools=[desk])
    present = AgentStatusChanged(
        clinic_id=c.clinic_id, receptionist_id="r1", status="available", changed_at=datetime.now(UTC)
    )
    await send_events(stack.bootstrap, [present])
    await _row(stack, "SELECT 1 FROM agents WHERE clinic_id = $1 AND status = 'available'", c.clinic_id)
    calls = [_call(c.clinic_id) for _ in range(4)]
    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, calls)
        to_b = []
        for call in calls:  # the secondary answers each call as soon as it has it
            [offer] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
            await send_events(stack.bootstrap, [_answer(c, call, c.vb)], topic=vendor_events_topic(c.vb))
            to_b.append(offer)
        for call in calls:
            await tap.wait_for(_on(vendor_calls_topic(c.va), call.call_id, "call.withdrawn"), timeout=60)
        await tap.settle(1.0)
    rows = await query(
        stack.database_url("call-router"),
        "SELECT call_id, status, answered_by_id, received_at, answered_at FROM calls WHERE clinic_id = $1",
        c.clinic_id,
    )
    assert {(r["status"], r["answered_by_id"]) for r in rows} == {("answered", c.vb)} and len(rows) == 4
    assert all((r["answered_at"] - r["received_at"]).total_seconds() <= BUDGET for r in rows)
    for call, offer in zip(calls, to_b, strict=True):
        assert await _since_received(tap, call, offer) <= BUDGET - 12.0 + 1.5
        assert len(tap.matching(_on(vendor_calls_topic(c.va), call.call_id, "call.overflowed"))) == 1
    offered = [e for e in tap.matching(lambda e: e.type == "call.offered") if e.data.clinic_id == c.clinic_id]  # type: ignore[attr-defined]
    assert len(offered) == 1  # she rang for one call; the others did not wait for her
