"""call-router over the real broker and database: the whole call lifecycle.

Proves: an offer goes to the longest-idle available receptionist and an answer ends routing; a
missed offer moves on and auto-pauses the receptionist, then the call overflows to the vendor
inside the budget; a router SIGKILLed while a call rings still overflows it after restart, once;
an abandoned call asks for one callback per caller; a vendor that misses its answer target loses
the call to the secondary vendor and the next call goes to the secondary at once, also when the
clinic's configuration changed while the vendor held the call.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallReceived,
    ClinicConfig,
    Event,
)
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

OUT = ["call.routed", "call.offered", "call.overflowed", "agent.auto_paused", "callback.requested"]
ALL_WEEK = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def _clinic(stack: LocalStack, router: ServiceProcess, *, open_: bool = True, **phone: Any) -> str:
    clinic_id = uid("cr")
    doc: dict[str, Any] = {
        "ring_seconds": 6,
        "rings": 8,  # a 48 s budget: roomy even when a loaded 2-core machine delays the router by many seconds
        "receptionists": [{"receptionist_id": "r1"}, {"receptionist_id": "r2"}],
        "pools": [{"pool_id": "desk", "members": ["r1", "r2"], "offer_timeout_seconds": 4}],
        "answering_service": "va",
        "secondary_answering_service": "vb",
        # hand-off 28 s in (48 - 20); vb is offered the call too 38 s in (48 - 10) if nobody answered
        "vendors": [{"vendor_id": "va", "answer_target_seconds": 20}, {"vendor_id": "vb", "answer_target_seconds": 10}],
    }
    doc.update(phone)
    # Vendor health is per vendor, across clinics: give each test clinic its own vendors.
    doc = json.loads(json.dumps(doc).replace('"va"', f'"{clinic_id}-va"').replace('"vb"', f'"{clinic_id}-vb"'))
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Router Test Clinic",
            "timezone": "America/New_York",
            "hours": ALL_WEEK if open_ else {},
            "phone": doc,
        }
    )
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        while True:
            known = {c["clinic_id"] for c in (await client.get(router.url + "/v1/clinics")).json()}
            if clinic_id in known:
                return clinic_id
            assert time.monotonic() < deadline, "call-router never learned the clinic"
            await asyncio.sleep(0.2)


def _available(clinic_id: str, *ids_oldest_first: str) -> list[Event]:
    base = datetime.now(UTC) - timedelta(minutes=10)
    return [
        AgentStatusChanged(
            clinic_id=clinic_id, receptionist_id=r, status="available", changed_at=base + timedelta(seconds=i)
        )
        for i, r in enumerate(ids_oldest_first)
    ]


async def _present(stack: LocalStack, router: ServiceProcess, clinic_id: str, *ids_oldest_first: str) -> None:
    """Publish availability and wait until the router has applied it (presence and calls travel on
    different topics, so a call sent at once could overtake it)."""
    await send_events(stack.bootstrap, _available(clinic_id, *ids_oldest_first))
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        while True:
            agents = (await client.get(f"{router.url}/v1/clinics/{clinic_id}/agents")).json()
            if {a["receptionist_id"] for a in agents if a["status"] == "available"} == set(ids_oldest_first):
                return
            assert time.monotonic() < deadline, agents
            await asyncio.sleep(0.2)


def _call(clinic_id: str, caller: str | None = None, **kw: Any) -> CallReceived:
    return CallReceived(
        call_id=uid("call"),
        clinic_id=clinic_id,
        received_at=datetime.now(UTC),
        caller_token=caller or uid("tok"),
        **kw,
    )


def _once(events: list[Envelope[Event]]) -> list[Any]:
    """Payloads by event id: the outbox relay is at-least-once and a republished event keeps its id."""
    return list({e.id: e.data for e in events}.values())


def _of(call_id: str, *types: str) -> Any:
    def match(e: Envelope[Event]) -> bool:
        return getattr(e.data, "call_id", None) == call_id and (not types or e.type in types)

    return match


async def test_offer_to_the_longest_idle_receptionist_then_answered(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # a long offer, so the answer below arrives while it rings even on a busy machine
    clinic_id = await _clinic(
        stack, router, pools=[{"pool_id": "desk", "members": ["r1", "r2"], "offer_timeout_seconds": 15}]
    )
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await _present(stack, router, clinic_id, "r2", "r1")
        await send_events(stack.bootstrap, [call])
        [offered] = await tap.wait_for(_of(call.call_id, "call.offered"), timeout=60)
        assert (offered.data.target_kind, offered.data.target_id) == ("receptionist", "r2")  # type: ignore[attr-defined]
        [routed] = await tap.wait_for(_of(call.call_id, "call.routed"))
        assert (routed.data.target_kind, routed.data.attempt) == ("receptionist", 1)  # type: ignore[attr-defined]
        answered_at = datetime.now(UTC)
        await send_events(
            stack.bootstrap,
            [
                CallAnswered(
                    call_id=call.call_id,
                    clinic_id=clinic_id,
                    answered_at=answered_at,
                    answered_by_kind="receptionist",
                    answered_by_id="r2",
                ),
                CallEnded(call_id=call.call_id, clinic_id=clinic_id, ended_at=answered_at + timedelta(seconds=90)),
            ],
        )
        deadline = time.monotonic() + 60
        while True:
            [row] = await query(
                stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call.call_id
            )
            if row["status"] == "ended":
                break
            assert time.monotonic() < deadline
            await tap.poll()
        await tap.settle(2.0)
    assert len(_once(tap.matching(_of(call.call_id, "call.routed")))) == 1
    assert tap.matching(_of(call.call_id, "call.overflowed")) == []
    [agent] = await query(
        stack.database_url("call-router"),
        "SELECT * FROM agents WHERE clinic_id = $1 AND receptionist_id = 'r2'",
        clinic_id,
    )
    assert agent["calls_taken"] == 1 and agent["ringing_call_id"] is None


async def test_missed_offers_move_on_auto_pause_and_overflow_to_the_vendor_in_budget(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = await _clinic(stack, router)
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await _present(stack, router, clinic_id, "r1", "r2")
        await send_events(stack.bootstrap, [call])
        overflowed = (await tap.wait_for(_of(call.call_id, "call.overflowed"), timeout=90))[0]
        # Each missed offer pauses its receptionist; the events travel on their own topic.
        await tap.wait_for(
            lambda e: e.type == "agent.auto_paused" and getattr(e.data, "call_id", None) == call.call_id,
            count=2,
            timeout=60,
        )
        await tap.settle(1.0)
    routed = _once(tap.matching(_of(call.call_id, "call.routed")))
    assert [(r.target_kind, r.target_id, r.attempt) for r in routed][:3] == [  # type: ignore[attr-defined]
        ("receptionist", "r1", 1),
        ("receptionist", "r2", 2),
        ("answering_service", f"{clinic_id}-va", 3),
    ]
    assert overflowed.data.vendor_id == f"{clinic_id}-va"  # type: ignore[attr-defined]
    # handed over before the budget ran out (48 s budget, 20 s reserved for the vendor to answer)
    assert overflowed.data.overflowed_at <= call.received_at + timedelta(seconds=48)  # type: ignore[attr-defined]
    paused = tap.matching(lambda e: e.type == "agent.auto_paused" and getattr(e.data, "call_id", None) == call.call_id)
    assert sorted(p.receptionist_id for p in _once(paused)) == ["r1", "r2"]
    agents = await query(
        stack.database_url("call-router"), "SELECT receptionist_id, status FROM agents WHERE clinic_id = $1", clinic_id
    )
    assert {a["receptionist_id"]: a["status"] for a in agents} == {"r1": "paused", "r2": "paused"}


async def test_a_router_killed_while_a_call_rings_overflows_it_after_restart_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # One receptionist, a 10 s offer: the router dies while it rings.
    clinic_id = await _clinic(
        stack,
        router,
        receptionists=[{"receptionist_id": "r1"}],
        pools=[{"pool_id": "desk", "members": ["r1"], "offer_timeout_seconds": 10}],
        # hand-off 36 s in at the latest; vb would be offered the call too only 42 s in
        vendors=[{"vendor_id": "va", "answer_target_seconds": 12}, {"vendor_id": "vb", "answer_target_seconds": 6}],
    )
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await _present(stack, router, clinic_id, "r1")
        await send_events(stack.bootstrap, [call])
        await tap.wait_for(_of(call.call_id, "call.offered"), timeout=60)
        router.kill()
        [timer] = await query(
            stack.database_url("call-router"), "SELECT * FROM timers WHERE timer_key = $1", f"ring:{call.call_id}:1"
        )
        assert timer["kind"] == "ring_timeout"
        router.start()
        await tap.wait_for(_of(call.call_id, "call.overflowed"), timeout=90)
        await tap.settle(3.0)
    overflows = tap.matching(_of(call.call_id, "call.overflowed"))
    assert len({e.id for e in overflows}) == 1
    routed = _once(tap.matching(_of(call.call_id, "call.routed")))
    assert sorted({(r.target_kind, r.attempt) for r in routed}) == [  # type: ignore[attr-defined]
        ("answering_service", 2),
        ("receptionist", 1),
    ]
    rows = await query(stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call.call_id)
    assert rows[0]["status"] == "with_vendor" and rows[0]["attempt"] == 2


async def test_abandoned_calls_ask_for_one_callback_per_caller(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = await _clinic(stack, router, open_=False)
    caller = uid("tok")
    first, second, other = _call(clinic_id, caller), _call(clinic_id, caller), _call(clinic_id)
    now = datetime.now(UTC)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await send_events(
            stack.bootstrap,
            [
                first,
                second,
                other,
                CallAbandoned(call_id=first.call_id, clinic_id=clinic_id, abandoned_at=now),
                CallAbandoned(call_id=second.call_id, clinic_id=clinic_id, abandoned_at=now + timedelta(seconds=1)),
                CallAbandoned(call_id=other.call_id, clinic_id=clinic_id, abandoned_at=now + timedelta(seconds=2)),
            ],
        )
        callbacks = await tap.wait_for(
            lambda e: e.type == "callback.requested" and getattr(e.data, "clinic_id", None) == clinic_id, count=2
        )
        await tap.settle(2.0)
    callbacks = tap.matching(
        lambda e: e.type == "callback.requested" and getattr(e.data, "clinic_id", None) == clinic_id
    )
    assert sorted(c.caller_token for c in _once(callbacks)) == sorted([caller, other.caller_token])
    assert all(c.reason == "abandoned_call" for c in _once(callbacks))


async def test_a_vendor_that_does_not_answer_loses_the_call_to_the_secondary(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # closed: straight to the vendor, which has 3 s to answer
    vendors = [{"vendor_id": "va", "answer_target_seconds": 3}, {"vendor_id": "vb"}]
    clinic_id = await _clinic(stack, router, open_=False, vendors=vendors)
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await send_events(stack.bootstrap, [call])
        overflows = await tap.wait_for(_of(call.call_id, "call.overflowed"), count=2, timeout=90)
        assert [(e.data.vendor_id, e.data.reason) for e in overflows] == [  # type: ignore[attr-defined]
            (f"{clinic_id}-va", "after_hours"),
            (f"{clinic_id}-vb", "vendor_failover"),
        ]
        # va is now marked unhealthy: the next call goes to vb at once
        second = _call(clinic_id)
        await send_events(stack.bootstrap, [second])
        [direct] = await tap.wait_for(_of(second.call_id, "call.overflowed"), timeout=60)
        assert direct.data.vendor_id == f"{clinic_id}-vb"  # type: ignore[attr-defined]
        # vb answers: no further failover for that call
        await send_events(
            stack.bootstrap,
            [
                CallAnswered(
                    call_id=second.call_id,
                    clinic_id=clinic_id,
                    answered_at=datetime.now(UTC),
                    answered_by_kind="answering_service",
                    answered_by_id=f"{clinic_id}-vb",
                )
            ],
        )
        await tap.settle(3.0)
    assert len(_once(tap.matching(_of(second.call_id, "call.overflowed")))) == 1


async def test_a_vendor_deadline_after_a_configuration_change_still_fails_over_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    url = stack.database_url("call-router")
    vendors = [{"vendor_id": "va", "answer_target_seconds": 4}, {"vendor_id": "vb"}]
    clinic_id = await _clinic(stack, router, open_=False, vendors=vendors)
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await send_events(stack.bootstrap, [call])
        await tap.wait_for(_of(call.call_id, "call.overflowed"), timeout=60)
        # The same configuration again, under a new event id, before va's deadline: the router's
        # cached copy is then stale and the deadline takes the statement-by-statement path.
        [before] = await query(url, "SELECT config, event_id FROM clinics WHERE clinic_id = $1", clinic_id)
        await publish(stack.bootstrap, [ClinicConfig.model_validate(json.loads(before["config"]))])
        deadline = time.monotonic() + 60
        while (await query(url, "SELECT event_id FROM clinics WHERE clinic_id = $1", clinic_id))[0][
            "event_id"
        ] == before["event_id"]:
            assert time.monotonic() < deadline, "call-router never applied the new configuration"
            await asyncio.sleep(0.2)
        overflows = await tap.wait_for(_of(call.call_id, "call.overflowed"), count=2, timeout=90)
        await tap.settle(3.0)
    assert [(e.data.vendor_id, e.data.reason) for e in overflows] == [  # type: ignore[attr-defined]
        (f"{clinic_id}-va", "after_hours"),
        (f"{clinic_id}-vb", "vendor_failover"),
    ]
    assert len(_once(tap.matching(_of(call.call_id, "call.overflowed")))) == 2
    [row] = await query(url, "SELECT * FROM calls WHERE call_id = $1", call.call_id)
    assert (row["status"], row["vendor_id"], row["attempt"]) == ("with_vendor", f"{clinic_id}-vb", 2)


async def test_urgent_calls_page_the_on_call_provider_and_reach_the_vendor(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = await _clinic(stack, router, on_call=[{"provider_id": "dr-night"}])
    call = _call(clinic_id, intent="urgent")
    async with EventTap(stack.bootstrap, OUT) as tap:
        await _present(stack, router, clinic_id, "r1", "r2")
        await send_events(stack.bootstrap, [call])
        routed = await tap.wait_for(_of(call.call_id, "call.routed"), count=2, timeout=60)
    assert {(e.data.target_kind, e.data.target_id) for e in routed} == {  # type: ignore[attr-defined]
        ("answering_service", f"{clinic_id}-va"),
        ("on_call", "dr-night"),
    }


async def test_a_sister_desk_with_nobody_available_is_skipped_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    sister_id = await _clinic(
        stack, router, receptionists=[{"receptionist_id": "s1"}], pools=[{"pool_id": "desk", "members": ["s1"]}]
    )
    clinic_id = await _clinic(stack, router, sister_pools=[{"clinic_id": sister_id, "pool_id": "desk"}])
    # before the availability that _present publishes later (presence applies in changed_at order)
    busy = AgentStatusChanged(
        clinic_id=sister_id, receptionist_id="s1", status="busy", changed_at=datetime.now(UTC) - timedelta(hours=1)
    )
    await send_events(stack.bootstrap, [busy])
    deadline = time.monotonic() + 60
    while not await query(
        stack.database_url("call-router"),
        "SELECT 1 FROM agents WHERE clinic_id = $1 AND receptionist_id = 's1' AND status = 'busy'",
        sister_id,
    ):
        assert time.monotonic() < deadline, "call-router never applied the sister's presence"
        await asyncio.sleep(0.2)
    nobody_there, someone_there = _call(clinic_id), _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        # nobody at this clinic's desk (no presence), and the sister's only receptionist is busy
        await send_events(stack.bootstrap, [nobody_there])
        [routed] = await tap.wait_for(_of(nobody_there.call_id, "call.routed"), timeout=60)
        assert (routed.data.target_kind, routed.data.attempt) == ("answering_service", 1)  # type: ignore[attr-defined]
        # The vendor takes it. (A call still waiting would be offered to the sister's receptionist
        # the moment she becomes available, and she would be busy with it, not free for the next.)
        now = datetime.now(UTC)
        await send_events(
            stack.bootstrap,
            [
                CallAnswered(
                    call_id=nobody_there.call_id,
                    clinic_id=clinic_id,
                    answered_at=now,
                    answered_by_kind="answering_service",
                    answered_by_id=f"{clinic_id}-va",
                ),
                CallEnded(call_id=nobody_there.call_id, clinic_id=clinic_id, ended_at=now + timedelta(seconds=1)),
            ],
        )
        while not await query(
            stack.database_url("call-router"),
            "SELECT 1 FROM calls WHERE call_id = $1 AND status = 'ended'",
            nobody_there.call_id,
        ):
            assert time.monotonic() < deadline + 60, "call-router never applied the vendor's answer"
            await asyncio.sleep(0.2)
        await _present(stack, router, sister_id, "s1")
        await send_events(stack.bootstrap, [someone_there])
        [routed] = await tap.wait_for(_of(someone_there.call_id, "call.routed"), timeout=60)
        assert (routed.data.target_kind, routed.data.target_id) == ("sister_clinic", sister_id)  # type: ignore[attr-defined]
