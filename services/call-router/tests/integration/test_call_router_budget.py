"""call-router at the default ring budget (3 rings x 6 s = 18 s) over the real broker and database.

Proves, each time from broker timestamps (call.received's record to the record of the offer that was
answered, and to the answer): a silent primary vendor does not cost the caller (the secondary is
offered the call too in time, answers, the primary is withdrawn on its own topic, and its late
answer is recorded but counted nowhere); a primary whose heartbeats stopped is skipped at once and
used again when they resume; with both vendors slow each is offered the call in time, the first
answer wins and the other is withdrawn; a receptionist who misses, then a vendor answers.
And a configuration that cannot meet its budget is refused by `frontdesk apply`, which publishes
nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallAnswered,
    CallReceived,
    ClinicConfig,
    Event,
    VendorHeartbeat,
    vendor_calls_topic,
    vendor_events_topic,
)
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import live_clinics, publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

BUDGET = 18.0  # the default: 3 rings of 6 s
ALL_WEEK = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class Clinic:
    clinic_id: str
    va: str  # the primary vendor
    vb: str  # the secondary vendor


async def _clinic(
    stack: LocalStack, router: ServiceProcess, *, open_: bool, va: dict[str, Any], vb: dict[str, Any], **phone: Any
) -> Clinic:
    """A clinic at the default budget with two vendors of its own (vendor health is per vendor)."""
    clinic_id = uid("crb")
    a, b = f"{clinic_id}-va", f"{clinic_id}-vb"
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Budget Test Clinic",
            "timezone": "America/Chicago",
            "hours": ALL_WEEK if open_ else {},
            "phone": {
                "answering_service": a,
                "secondary_answering_service": b,
                "vendors": [{"vendor_id": a, **va}, {"vendor_id": b, **vb}],
                **phone,
            },
        }
    )
    assert config.phone.ring_budget_seconds == BUDGET
    await publish(stack.bootstrap, [config])
    url = stack.database_url("call-router")
    deadline = time.monotonic() + 60
    while len(await query(url, "SELECT 1 FROM vendor_topics WHERE vendor_id = ANY($1) AND ready", [a, b])) < 2:
        assert time.monotonic() < deadline, "call-router never provisioned the vendors' topics"
        await asyncio.sleep(0.3)
    while clinic_id not in await asyncio.to_thread(router.known_clinics):
        assert time.monotonic() < deadline, "call-router never learned the clinic"
        await asyncio.sleep(0.2)
    return Clinic(clinic_id, a, b)


def _topics(c: Clinic) -> list[str]:
    return [
        "call.received",
        "call.routed",
        "call.offered",
        "call.overflowed",
        "agent.auto_paused",
        vendor_calls_topic(c.va),
        vendor_calls_topic(c.vb),
        vendor_events_topic(c.va),
        vendor_events_topic(c.vb),
    ]


def _call(clinic_id: str) -> CallReceived:
    return CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=uid("t"))


def _answer(c: Clinic, call: CallReceived, vendor_id: str) -> CallAnswered:
    return CallAnswered(
        call_id=call.call_id,
        clinic_id=c.clinic_id,
        answered_at=datetime.now(UTC),
        answered_by_kind="answering_service",
        answered_by_id=vendor_id,
    )


def _on(topic: str, call_id: str, event_type: str) -> Any:
    def match(e: Envelope[Event]) -> bool:
        return e.topic == topic and e.type == event_type and getattr(e.data, "call_id", None) == call_id

    return match


def _broker_seconds(tap: EventTap, e: Envelope[Event]) -> float:
    """The broker's timestamp of the record that carried `e` (CreateTime, set when it was produced)."""
    record = next(r for r in tap.raw if r.topic == e.topic and dict(r.headers).get("ce_id", b"").decode() == e.id)
    return float(record.timestamp) / 1000


async def _since_received(tap: EventTap, call: CallReceived, e: Envelope[Event]) -> float:
    [received] = await tap.wait_for(_on("call.received", call.call_id, "call.received"))
    return _broker_seconds(tap, e) - _broker_seconds(tap, received)


async def _row(stack: LocalStack, sql: str, *args: Any, until: Any = bool, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not until(rows := await query(stack.database_url("call-router"), sql, *args)):
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.2)
    return rows


async def _prometheus(router: ServiceProcess, name: str, **labels: str) -> float:
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        text = (await client.get(router.ops_url + "/metrics")).text
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(w in line for w in wanted)
    )


async def test_a_silent_primary_vendor_does_not_cost_the_caller(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # The primary needs 15 s, the secondary 6 s: the primary gets the call at once (closed), the
    # secondary is offered it too 12 s in (18 - 6), when the primary has still not answered. (The
    # desk's hunt group, never rung here, must ring out 3 s in, before the primary's hand-off.)
    c = await _clinic(
        stack,
        router,
        open_=False,
        va={"answer_target_seconds": 15},
        vb={"answer_target_seconds": 6},
        pools=[{"pool_id": "desk", "offer_timeout_seconds": 3}],
    )
    call = _call(c.clinic_id)
    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [call])
        [to_a] = await tap.wait_for(_on(vendor_calls_topic(c.va), call.call_id, "call.overflowed"), timeout=60)
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
        assert to_b.data.reason == "vendor_hedge"  # type: ignore[attr-defined]
        await send_events(stack.bootstrap, [_answer(c, call, c.vb)], topic=vendor_events_topic(c.vb))
        [withdrawn] = await tap.wait_for(_on(vendor_calls_topic(c.va), call.call_id, "call.withdrawn"), timeout=60)
        [answered] = await tap.wait_for(_on(vendor_events_topic(c.vb), call.call_id, "call.answered"))
        offered_after = await _since_received(tap, call, to_b)
        answered_after = await _since_received(tap, call, answered)
        # the primary answers after all, twice (a retry under another event id): recorded once, not counted
        await send_events(
            stack.bootstrap, [_answer(c, call, c.va), _answer(c, call, c.va)], topic=vendor_events_topic(c.va)
        )
        [late] = await _row(
            stack,
            "SELECT * FROM call_withdrawals WHERE call_id = $1 AND late_answer_at IS NOT NULL",
            call.call_id,
        )
        await tap.settle(2.0)
    print(f"silent primary: secondary offered {offered_after:.2f} s, answered {answered_after:.2f} s after arrival")
    assert _broker_seconds(tap, to_a) <= _broker_seconds(tap, to_b)
    assert offered_after <= BUDGET and answered_after <= BUDGET
    assert (withdrawn.data.vendor_id, withdrawn.data.reason) == (c.va, "answered_elsewhere")  # type: ignore[attr-defined]
    assert late["vendor_id"] == c.va and late["reason"] == "answered_elsewhere"
    assert tap.matching(_on(vendor_calls_topic(c.vb), call.call_id, "call.withdrawn")) == []  # the winner keeps it
    [row] = await query(stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call.call_id)
    assert (row["status"], row["answered_by_id"]) == ("answered", c.vb)
    assert await _prometheus(router, "frontdesk_calls_answered_total", clinic_id=c.clinic_id) == 1
    assert await _prometheus(router, "frontdesk_vendor_late_answers_total", vendor_id=c.va) == 1


async def test_a_primary_whose_heartbeats_stopped_is_skipped_at_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    c = await _clinic(stack, router, open_=False, va={"heartbeat_timeout_seconds": 3}, vb={})
    sql = "SELECT * FROM vendor_health WHERE vendor_id = $1 AND last_heartbeat_at > $2"
    # The vendor's clock runs an hour ahead: its last heartbeat must not keep it healthy after it stops.
    beat = datetime.now(UTC)
    ahead = VendorHeartbeat(vendor_id=c.va, sent_at=beat + timedelta(hours=1))
    await send_events(stack.bootstrap, [ahead], topic=vendor_events_topic(c.va))
    [health] = await _row(stack, sql, c.va, beat - timedelta(seconds=1))
    assert health["last_heartbeat_at"] < beat + timedelta(minutes=1)  # never ahead of the router's clock
    await asyncio.sleep(4)  # no heartbeat for longer than its 3 s timeout
    stopped, resumed = _call(c.clinic_id), _call(c.clinic_id)
    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [stopped])
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(c.vb), stopped.call_id, "call.overflowed"), timeout=60)
        offered_after = await _since_received(tap, stopped, to_b)
        await send_events(stack.bootstrap, [_answer(c, stopped, c.vb)], topic=vendor_events_topic(c.vb))
        await _row(stack, "SELECT 1 FROM calls WHERE call_id = $1 AND status = 'answered'", stopped.call_id)
        # heartbeats resume: the primary takes calls again
        beat = datetime.now(UTC)
        await send_events(
            stack.bootstrap, [VendorHeartbeat(vendor_id=c.va, sent_at=beat)], topic=vendor_events_topic(c.va)
        )
        await _row(stack, sql, c.va, beat - timedelta(seconds=1))
        await send_events(stack.bootstrap, [resumed])
        [to_a] = await tap.wait_for(_on(vendor_calls_topic(c.va), resumed.call_id, "call.overflowed"), timeout=60)
        await tap.settle(2.0)
    print(f"heartbeats stopped: the secondary was offered the call {offered_after:.2f} s after arrival")
    assert to_b.data.reason == "after_hours"  # type: ignore[attr-defined]  # the first route, not a failover
    assert offered_after <= BUDGET
    # the stopped primary was never offered it, not even as a hedge
    assert tap.matching(_on(vendor_calls_topic(c.va), stopped.call_id, "call.overflowed")) == []
    assert to_a.data.reason == "after_hours"  # type: ignore[attr-defined]


async def test_with_both_vendors_slow_each_is_offered_in_time_and_the_first_answer_wins(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    c = await _clinic(stack, router, open_=False, va={"answer_target_seconds": 12}, vb={"answer_target_seconds": 6})
    call = _call(c.clinic_id)
    url = stack.database_url("call-router")
    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [call])
        [to_a] = await tap.wait_for(_on(vendor_calls_topic(c.va), call.call_id, "call.overflowed"), timeout=60)
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
        # both miss their answer targets: both are marked unhealthy
        failed = "SELECT vendor_id FROM vendor_health WHERE vendor_id = ANY($1) AND failed_until > now()"
        await _row(stack, failed, [c.va, c.vb], until=lambda rows: len(rows) == 2)
        # then the primary answers, late; the secondary's answer comes after it
        await send_events(stack.bootstrap, [_answer(c, call, c.va)], topic=vendor_events_topic(c.va))
        [withdrawn] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.withdrawn"), timeout=60)
        await send_events(stack.bootstrap, [_answer(c, call, c.vb)], topic=vendor_events_topic(c.vb))
        await _row(
            stack, "SELECT 1 FROM call_withdrawals WHERE call_id = $1 AND late_answer_at IS NOT NULL", call.call_id
        )
        await tap.settle(1.0)
    answered_offer_after = await _since_received(tap, call, to_a)
    second_offer_after = await _since_received(tap, call, to_b)
    print(f"both slow: offers {answered_offer_after:.2f} s and {second_offer_after:.2f} s after arrival")
    assert answered_offer_after <= BUDGET and second_offer_after <= BUDGET
    assert withdrawn.data.vendor_id == c.vb  # type: ignore[attr-defined]
    [row] = await query(url, "SELECT * FROM calls WHERE call_id = $1", call.call_id)
    assert (row["status"], row["answered_by_id"]) == ("answered", c.va)
    assert (row["answered_at"] - row["received_at"]).total_seconds() > BUDGET  # late: the vendors', not the router's
    assert len({e.id for e in tap.matching(_on("call.overflowed", call.call_id, "call.overflowed"))}) == 2
    assert await _prometheus(router, "frontdesk_calls_answered_total", clinic_id=c.clinic_id) == 1


async def test_a_receptionist_who_misses_then_a_vendor_answers_within_the_budget(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # default vendors (12 s to answer): the desk rings until 6 s in, then both vendors get the call
    c = await _clinic(
        stack,
        router,
        open_=True,
        va={},
        vb={},
        receptionists=[{"receptionist_id": "r1"}],
        pools=[{"pool_id": "desk", "members": ["r1"]}],
    )
    available = AgentStatusChanged(
        clinic_id=c.clinic_id, receptionist_id="r1", status="available", changed_at=datetime.now(UTC)
    )
    await send_events(stack.bootstrap, [available])
    await _row(
        stack,
        "SELECT 1 FROM agents WHERE clinic_id = $1 AND receptionist_id = 'r1' AND status = 'available'",
        c.clinic_id,
    )
    call = _call(c.clinic_id)
    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [call])
        [offered] = await tap.wait_for(_on("call.offered", call.call_id, "call.offered"), timeout=60)
        [to_a] = await tap.wait_for(_on(vendor_calls_topic(c.va), call.call_id, "call.overflowed"), timeout=60)
        await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
        await send_events(stack.bootstrap, [_answer(c, call, c.va)], topic=vendor_events_topic(c.va))
        [answered] = await tap.wait_for(_on(vendor_events_topic(c.va), call.call_id, "call.answered"))
        [withdrawn] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.withdrawn"), timeout=60)
        await tap.wait_for(lambda e: e.type == "agent.auto_paused" and getattr(e.data, "call_id", None) == call.call_id)
    desk_after = await _since_received(tap, call, offered)
    offered_after = await _since_received(tap, call, to_a)
    answered_after = await _since_received(tap, call, answered)
    print(
        f"desk missed: desk {desk_after:.2f} s, vendor offered {offered_after:.2f} s, answered {answered_after:.2f} s"
    )
    assert offered.data.target_id == "r1"  # type: ignore[attr-defined]
    assert offered.data.ring_timeout_seconds <= 6  # type: ignore[attr-defined]  # only until the hand-off
    assert offered_after <= BUDGET and answered_after <= BUDGET
    assert withdrawn.data.reason == "answered_elsewhere"  # type: ignore[attr-defined]


CANNOT_FIT = """
clinics:
  - clinic_id: {ok}
    name: Fits
    timezone: Europe/Lisbon
    phone: {{answering_service: lisbon-answering}}
  - clinic_id: {slow}
    name: Slow Vendor
    timezone: Pacific/Chatham
    phone:
      ring_seconds: 4
      rings: 3
      answering_service: slow-answering
      vendors: [{{vendor_id: slow-answering, answer_target_seconds: 10}}]
  - clinic_id: {skills}
    name: Unused Skill
    timezone: Asia/Kathmandu
    phone:
      answering_service: kathmandu-answering
      receptionists: [{{receptionist_id: r1, skills: [results]}}]
      pools: [{{pool_id: billing, members: [r1], intents: [billing]}}]
"""


def test_apply_refuses_a_configuration_that_cannot_meet_its_budget_and_publishes_nothing(
    stack: LocalStack, tmp_path: Path
) -> None:
    ids = {"ok": uid("crb-ok"), "slow": uid("crb-slow"), "skills": uid("crb-skill")}
    path = tmp_path / "clinics.yaml"
    path.write_text(CANNOT_FIT.format(**ids))
    for dry_run in (["--dry-run"], []):
        cli = [sys.executable, "-m", "frontdesk.tools.cli", "--bootstrap", stack.bootstrap]
        done = subprocess.run(
            [*cli, "apply", "-f", str(path), *dry_run],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done
        assert "Nothing published" in done.stderr
        # the clinic, the step and the seconds missing
        assert f"clinic {ids['slow']}" in done.stderr
        assert "chain step 1 (pool front-desk): its 6 s offer" in done.stderr
        assert "4 s missing" in done.stderr  # a 12 s budget less 10 s for the vendor leaves 2 s of 6
        assert f"clinic {ids['skills']}" in done.stderr
        assert "skill 'results' is never used" in done.stderr
        assert "none of its members has it" in done.stderr
    live = asyncio.run(live_clinics(stack.bootstrap))
    assert not set(ids.values()) & set(live)  # not even the valid one
