"""Producers that are hostile or careless, over the real broker and database.

Proves: a vendor that writes another producer's CloudEvents source and id (phone-bridge's
`<call>:answered`, or the same careless source and sequence number as another vendor) cannot make
that producer's event a repeat the router drops; an outcome of a call (answered, abandoned, declined,
ended) that names a clinic other than the call's is refused without effect (its dead letter says why,
ids only; counted) and touches neither clinic, also when it arrived before the call itself; a phone
system's clock running ahead does not freeze a receptionist's presence; producers' clocks running
ahead or behind (or lying) never make a stored wait, talk time or service-level figure negative or
absurd.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallDeclined,
    CallEnded,
    CallReceived,
    Event,
    dlq_topic,
    vendor_events_topic,
)
from frontdesk.testing.helpers import query, send_events, send_raw, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_vendors import _call_row, _closed_clinic, _dead_letter_reasons, _vendor_ready

BRIDGE = "frontdesk/phone-bridge"


async def _send_as(bootstrap: str, event: Event, source: str, event_id: str, topic: str | None = None) -> None:
    record = encode(event, source=source, event_id=event_id, topic=topic)
    await send_raw(bootstrap, [(record.topic, record.key, record.value, record.headers)])


def _call(clinic_id: str) -> CallReceived:
    return CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=uid("t"))


def _answer(call: CallReceived, kind: str, by: str, clinic_id: str | None = None) -> CallAnswered:
    return CallAnswered(
        call_id=call.call_id,
        clinic_id=clinic_id or call.clinic_id,
        answered_at=datetime.now(UTC),
        answered_by_kind=kind,  # type: ignore[arg-type]
        answered_by_id=by,
    )


def _refused(metrics: str, event_type: str) -> float:
    """frontdesk_vendor_events_refused_total of a shared topic's producer (vendor "-") for `event_type`."""
    labels = {'vendor_id="-"', f'event_type="{event_type}"'}
    for line in metrics.splitlines():
        name, _, rest = line.partition("{")
        if name == "frontdesk_vendor_events_refused_total" and labels <= set(rest.split("}")[0].split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _with_vendor(stack: LocalStack, *calls: CallReceived) -> None:
    for call in calls:
        await _call_row(stack, call.call_id, lambda c: c["status"] == "with_vendor")


async def _two_closed_clinics(stack: LocalStack, router: ServiceProcess, prefix: str) -> tuple[str, str, str, str]:
    """Two closed clinics, each with its own vendor, whose topics are ready: (vendor, clinic) A, then B."""
    vendor_a, vendor_b = uid(f"{prefix}a"), uid(f"{prefix}b")
    clinic_a = await _closed_clinic(stack, router, vendor_a)
    clinic_b = await _closed_clinic(stack, router, vendor_b)
    await _vendor_ready(stack, vendor_a)
    await _vendor_ready(stack, vendor_b)
    return vendor_a, clinic_a, vendor_b, clinic_b


async def test_a_vendor_cannot_make_another_producers_event_a_repeat(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    vendor_a, clinic_a, vendor_b, clinic_b = await _two_closed_clinics(stack, running["call-router"], "vend-i")
    call_a, call_b, call_c, call_d = _call(clinic_a), _call(clinic_b), _call(clinic_b), _call(clinic_a)
    await send_events(stack.bootstrap, [call_a, call_b, call_c, call_d])
    await _with_vendor(stack, call_a, call_b, call_c, call_d)

    # Vendor A answers its own call under phone-bridge's source and the id phone-bridge gives the
    # answer of call B: applied (it is A's own answer), but it claims nothing of phone-bridge's.
    own = _answer(call_a, "answering_service", vendor_a)
    await _send_as(stack.bootstrap, own, BRIDGE, f"{call_b.call_id}:answered", vendor_events_topic(vendor_a))
    await _call_row(stack, call_a.call_id, lambda c: c["status"] == "answered")
    # Phone-bridge then reports that a receptionist answered call B: not a repeat, applied.
    await _send_as(stack.bootstrap, _answer(call_b, "receptionist", "rec-1"), BRIDGE, f"{call_b.call_id}:answered")
    row = await _call_row(stack, call_b.call_id, lambda c: c["status"] == "answered")
    assert (row["answered_by_kind"], row["answered_by_id"]) == ("receptionist", "rec-1")

    # Two vendors whose systems both number their events 1, 2, ... under the same source.
    careless = (
        (_answer(call_d, "answering_service", vendor_a), vendor_a),
        (_answer(call_c, "answering_service", vendor_b), vendor_b),
    )
    for answer, vendor in careless:
        await _send_as(stack.bootstrap, answer, "answering-desk", "1", vendor_events_topic(vendor))
    for answer, vendor in careless:
        row = await _call_row(stack, answer.call_id, lambda c: c["status"] == "answered")
        assert row["answered_by_id"] == vendor


async def test_an_outcome_naming_another_clinic_than_the_calls_is_refused_without_effect(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    vendor_a, clinic_a, _, clinic_b = await _two_closed_clinics(stack, running["call-router"], "vend-c")
    call = _call(clinic_a)
    await send_events(stack.bootstrap, [call])
    before = await _call_row(stack, call.call_id, lambda c: c["status"] == "with_vendor")
    now = datetime.now(UTC)
    # A phone system that maps the number to the wrong clinic, on the shared topics (keyed by clinic B).
    wrong: list[Event] = [
        _answer(call, "receptionist", "rec-b", clinic_b),
        CallAbandoned(call_id=call.call_id, clinic_id=clinic_b, abandoned_at=now),
        CallDeclined(
            call_id=call.call_id, clinic_id=clinic_b, attempt=before["attempt"], reason="busy", declined_at=now
        ),
        CallEnded(call_id=call.call_id, clinic_id=clinic_b, ended_at=now),
    ]
    topics = [dlq_topic(e.event_type) for e in wrong]
    async with EventTap(stack.bootstrap, topics) as dlq:
        ids = await send_events(stack.bootstrap, wrong)
        reasons = await _dead_letter_reasons(dlq, ids)
    assert set(reasons.values()) == {f"event refused: the call belongs to another clinic (clinic {clinic_b})"}
    url = stack.database_url("call-router")
    after = await _call_row(stack, call.call_id, lambda c: True)
    assert {k: after[k] for k in ("status", "vendor_id", "attempt")} == {
        "status": "with_vendor",
        "vendor_id": vendor_a,
        "attempt": before["attempt"],
    }
    assert await query(url, "SELECT 1 FROM callbacks WHERE clinic_id = ANY($1)", [clinic_a, clinic_b]) == []
    assert await query(url, "SELECT 1 FROM agents WHERE clinic_id = $1", clinic_b) == []
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(running["call-router"].ops_url + "/metrics")).text
    for event in wrong:
        assert _refused(metrics, event.event_type) >= 1, event.event_type
    # The phone system's abandon that names the call's own clinic applies.
    await send_events(stack.bootstrap, [CallAbandoned(call_id=call.call_id, clinic_id=clinic_a, abandoned_at=now)])
    await _call_row(stack, call.call_id, lambda c: c["status"] == "abandoned")
    [callback] = await query(url, "SELECT clinic_id, caller_token FROM callbacks WHERE call_id = $1", call.call_id)
    assert callback == {"clinic_id": clinic_a, "caller_token": call.caller_token}


async def test_an_early_outcome_naming_another_clinic_is_not_the_calls(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    vendor_a, clinic_a, _, clinic_b = await _two_closed_clinics(stack, running["call-router"], "vend-e")
    call = _call(clinic_a)
    url = stack.database_url("call-router")
    # Outcomes that overtake their call are kept until it arrives; these name the wrong clinic.
    early: list[Event] = [
        CallAbandoned(call_id=call.call_id, clinic_id=clinic_b, abandoned_at=datetime.now(UTC)),
        CallEnded(call_id=call.call_id, clinic_id=clinic_b, ended_at=datetime.now(UTC)),
    ]
    await send_events(stack.bootstrap, early)
    deadline = time.monotonic() + 60
    while True:  # kept, since the call has not arrived
        if len(await query(url, "SELECT 1 FROM early_outcomes WHERE call_id = $1", call.call_id)) == len(early):
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    async with EventTap(stack.bootstrap, [dlq_topic("call.received")]) as dlq:
        await send_events(stack.bootstrap, [call])
        # routed as any call: the early abandon of clinic B is not replayed onto it
        await _call_row(stack, call.call_id, lambda c: c["status"] == "with_vendor" and c["vendor_id"] == vendor_a)
        await send_events(
            stack.bootstrap, [_answer(call, "answering_service", vendor_a)], topic=vendor_events_topic(vendor_a)
        )
        # and its answer does not take clinic B's early call.ended as its end
        row = await _call_row(stack, call.call_id, lambda c: c["answered_at"] is not None)
        assert (row["status"], row["ended_at"]) == ("answered", None)
        await dlq.settle(1.0)
        assert [r for r in dlq.raw if dict(r.headers).get("ce_type") == b"call.received"] == []
    assert await query(url, "SELECT 1 FROM callbacks WHERE call_id = $1", call.call_id) == []


async def _handled(stack: LocalStack, event_ids: list[str]) -> None:
    """Wait until the router's consumer has handled these events (its inbox holds them)."""
    url = stack.database_url("call-router")
    deadline = time.monotonic() + 60
    while len(await query(url, "SELECT 1 FROM inbox WHERE event_id = ANY($1)", event_ids)) < len(event_ids):
        assert time.monotonic() < deadline, event_ids
        await asyncio.sleep(0.2)


async def test_an_early_outcome_naming_another_clinic_does_not_crowd_out_the_calls_own(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    # Outcomes that overtake their call, in both orders: the wrong clinic's first, then the call's own
    # (answered, ended, abandoned), and the call's own first. Each call gets its own outcome only.
    vendor_a, clinic_a, _, clinic_b = await _two_closed_clinics(stack, running["call-router"], "vend-o")
    url = stack.database_url("call-router")
    answered, abandoned, answered_first = _call(clinic_a), _call(clinic_a), _call(clinic_a)
    now = datetime.now(UTC)

    def ended(call: CallReceived, clinic_id: str) -> CallEnded:
        return CallEnded(call_id=call.call_id, clinic_id=clinic_id, ended_at=now)

    def abandon(call: CallReceived, clinic_id: str) -> CallAbandoned:
        return CallAbandoned(call_id=call.call_id, clinic_id=clinic_id, abandoned_at=now)

    wrong: list[Event] = [
        _answer(answered, "receptionist", "rec-b", clinic_b),
        ended(answered, clinic_b),
        abandon(abandoned, clinic_b),
    ]
    own_answer = _answer(answered, "answering_service", vendor_a).model_copy(update={"answered_at": now})
    own: list[Event] = [own_answer, ended(answered, clinic_a)]
    own += [abandon(abandoned, clinic_a), _answer(answered_first, "answering_service", vendor_a)]
    async with httpx.AsyncClient() as client:
        before = (await client.get(running["call-router"].ops_url + "/metrics")).text
    await _handled(stack, await send_events(stack.bootstrap, wrong))
    await _handled(stack, await send_events(stack.bootstrap, own))
    later = [_answer(answered_first, "receptionist", "rec-b", clinic_b)]
    await _handled(stack, await send_events(stack.bootstrap, later))

    await send_events(stack.bootstrap, [answered, abandoned, answered_first])
    for call in (answered, answered_first):
        row = await _call_row(stack, call.call_id, lambda c: c["status"] in ("ended", "answered"))
        assert (row["answered_by_kind"], row["answered_by_id"]) == ("answering_service", vendor_a)
    assert (await _call_row(stack, answered.call_id, lambda c: c["status"] == "ended"))["ended_at"] == now
    await _call_row(stack, abandoned.call_id, lambda c: c["status"] == "abandoned")
    callbacks = await query(
        url, "SELECT clinic_id, call_id FROM callbacks WHERE clinic_id = ANY($1)", [clinic_a, clinic_b]
    )
    assert callbacks == [{"clinic_id": clinic_a, "call_id": abandoned.call_id}]
    assert await query(url, "SELECT 1 FROM agents WHERE clinic_id = $1", clinic_b) == []
    calls = [c.call_id for c in (answered, abandoned, answered_first)]
    assert await query(url, "SELECT 1 FROM early_outcomes WHERE call_id = ANY($1)", calls) == []
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(running["call-router"].ops_url + "/metrics")).text
    # the wrong clinic's outcomes are refused when their call arrives (counted, logged)
    for event_type, refused in (("call.answered", 2), ("call.ended", 1), ("call.abandoned", 1)):
        assert _refused(metrics, event_type) - _refused(before, event_type) == refused, event_type


async def _agent(stack: LocalStack, clinic_id: str, receptionist_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        rows = await query(
            stack.database_url("call-router"),
            "SELECT status, status_at FROM agents WHERE clinic_id = $1 AND receptionist_id = $2",
            clinic_id,
            receptionist_id,
        )
        if rows and rows[0]["status"] == status:
            return rows[0]
        assert time.monotonic() < deadline, f"{receptionist_id}: {rows}, never {status}"
        await asyncio.sleep(0.2)


async def test_a_phone_clock_running_ahead_does_not_freeze_a_receptionists_presence(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    # The latest change wins; a desk phone or phone system set to next year would otherwise win over
    # every real change until then (a receptionist stuck "available" while gone, or never rung).
    _, clinic_id, _, _ = await _two_closed_clinics(stack, running["call-router"], "vend-k")
    ahead = datetime.now(UTC) + timedelta(days=365)
    desk, answering = uid("rec"), uid("rec")
    await send_events(
        stack.bootstrap,
        [AgentStatusChanged(clinic_id=clinic_id, receptionist_id=desk, status="available", changed_at=ahead)],
    )
    assert (await _agent(stack, clinic_id, desk, "available"))["status_at"] <= datetime.now(UTC)
    # a receptionist's answer stamped by the same clock
    call = _call(clinic_id)
    await send_events(stack.bootstrap, [call])
    await _with_vendor(stack, call)
    answer = _answer(call, "receptionist", answering).model_copy(update={"answered_at": ahead})
    await send_events(stack.bootstrap, [answer])
    assert (await _agent(stack, clinic_id, answering, "busy"))["status_at"] <= datetime.now(UTC)
    # the next real changes apply
    now = datetime.now(UTC)
    await send_events(
        stack.bootstrap,
        [
            AgentStatusChanged(clinic_id=clinic_id, receptionist_id=who, status="offline", changed_at=now)
            for who in (desk, answering)
        ],
    )
    for who in (desk, answering):
        await _agent(stack, clinic_id, who, "offline")


async def test_producers_clocks_never_make_a_wait_negative_or_absurd(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    vendor_a, clinic_a, _, _ = await _two_closed_clinics(stack, running["call-router"], "vend-t")
    url = stack.database_url("call-router")
    started = datetime.now(UTC)
    day, year = timedelta(days=1), timedelta(days=365)
    ahead, behind, abandoned, talked = (_call(clinic_a) for _ in range(4))
    ahead = ahead.model_copy(update={"received_at": started + day})  # the phone system's clock ahead
    behind = behind.model_copy(update={"received_at": started - year})  # behind, or made up
    await send_events(stack.bootstrap, [ahead, behind, abandoned, talked])
    await _with_vendor(stack, ahead, behind, abandoned, talked)
    vendor_answer = [  # the vendor's clock is right; the phone system's outcomes are not
        _answer(call, "answering_service", vendor_a).model_copy(update={"answered_at": datetime.now(UTC)})
        for call in (ahead, behind, talked)
    ]
    await _handled(stack, await send_events(stack.bootstrap, vendor_answer, topic=vendor_events_topic(vendor_a)))
    await _handled(
        stack,
        await send_events(
            stack.bootstrap,
            [
                CallAbandoned(call_id=abandoned.call_id, clinic_id=clinic_a, abandoned_at=started - day),
                CallEnded(call_id=talked.call_id, clinic_id=clinic_a, ended_at=started + year),
            ],
        ),
    )
    heard_by = datetime.now(UTC)
    rows = {
        r["call_id"]: r
        for r in await query(
            url,
            "SELECT call_id, received_at, answer_by, answered_at, abandoned_at, ended_at FROM calls"
            " WHERE call_id = ANY($1)",
            [c.call_id for c in (ahead, behind, abandoned, talked)],
        )
    }
    for row in rows.values():  # every instant within what the router itself vouches for
        assert started - timedelta(minutes=10) <= row["received_at"] <= heard_by, row
        assert row["answer_by"] <= heard_by + timedelta(minutes=5), row  # no budget lent by a clock ahead
        for at in ("answered_at", "abandoned_at", "ended_at"):
            assert row[at] is None or row["received_at"] <= row[at] <= heard_by, row
    assert rows[talked.call_id]["answered_at"] <= rows[talked.call_id]["ended_at"]
    async with running["call-router"].client(timeout=10) as client:
        start = (started - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        params = {"start": start.isoformat(), "hours": 3}
        body = (await client.get(f"/v1/clinics/{clinic_a}/metrics", params=params)).json()
    hours = [h for h in body["hours"] if h["offered"]]
    assert sum(h["offered"] for h in hours) == 4, body  # all counted in the hours the router heard them
    assert all(0 <= h["asa_seconds"] <= 11 * 60 and 0 <= h["handle_seconds"] <= 11 * 60 for h in hours), body
