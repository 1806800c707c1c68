"""The switchboard answers the proxy from memory: it waits for the router's decision, falls back to the
vendors when the router is silent, and publishes each outcome once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallDeclined,
    CallEnded,
    CallOffered,
    CallReceived,
    Event,
)
from frontdesk.phone_bridge.domain.calls import Fallback, Hangup, Ring, call_id_for
from frontdesk.phone_bridge.switchboard import Question, Switchboard

from .clinics import clinic

T0 = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


def _board(wait: float = 1.0) -> tuple[Switchboard, list[tuple[Event, str]]]:
    published: list[tuple[Event, str]] = []
    board = Switchboard(
        lambda e, i: published.append((e, i)), caller_key=b"k" * 32, router_wait_seconds=wait, clock=lambda: T0
    )
    board.learn_clinic(clinic())
    return board, published


def _offer(call_id: str) -> CallOffered:
    return CallOffered(
        call_id=call_id,
        clinic_id="c1",
        target_kind="receptionist",
        target_id="r1",
        ring_timeout_seconds=4,
        offered_at=T0,
        attempt=1,
    )


async def test_a_question_waits_for_the_routers_decision() -> None:
    board, published = _board()
    asked = asyncio.create_task(board.route(Question("abc", "+15550100", "+15551234567")))
    await asyncio.sleep(0.05)
    assert not asked.done()
    received = published[0][0]
    assert isinstance(received, CallReceived) and received.call_id == call_id_for("abc")
    assert "5551234567" not in received.model_dump_json()  # the caller is a keyed hash only
    board.router_decided(_offer(received.call_id))
    answer = await asyncio.wait_for(asked, 1)
    assert isinstance(answer, Ring) and answer.uris == ("sip:r1@127.0.0.1:5081",)


async def test_a_silent_router_rings_the_vendors() -> None:
    board, _ = _board(wait=0.05)
    answer = await board.route(Question("abc", "c1", "x"))
    assert isinstance(answer, Ring) and len(answer.uris) == 2


async def test_an_unknown_number_goes_to_the_fallback_answering_service_and_publishes_nothing() -> None:
    """A number no clinic has (its configuration not here yet): the proxy's fallback answers, not a 480."""
    board, published = _board()
    assert await board.route(Question("abc", "+19990000", "x")) == Fallback("unknown_number")
    assert published == []


async def test_a_silent_router_and_nothing_with_a_sip_address_goes_to_the_fallback_answering_service() -> None:
    """Validation refuses such a configuration today; one projected before that check still gets a human."""
    board, _ = _board(wait=0.05)
    config = clinic()
    assert config.phone.sip is not None
    bare = config.phone.sip.model_copy(update={"receptionists": {}, "vendors": {}})
    board.learn_clinic(config.model_copy(update={"phone": config.phone.model_copy(update={"sip": bare})}))
    assert await board.route(Question("abc", "c1", "x")) == Fallback("nothing_to_ring")


async def test_each_outcome_is_published_once_with_a_stable_event_id() -> None:
    board, published = _board()
    asked = asyncio.create_task(board.route(Question("abc", "c1", "x")))
    await asyncio.sleep(0)
    board.router_decided(_offer(call_id_for("abc")))
    await asked
    board.answered("abc", "sip:r1@127.0.0.1:5081")
    board.answered("abc", "sip:r1@127.0.0.1:5081")
    board.abandoned("abc")
    board.ended("abc")
    board.ended("abc")
    kinds = [(type(e).__name__, i.split(":")[1]) for e, i in published]
    assert kinds == [("CallReceived", "received"), ("CallAnswered", "answered"), ("CallEnded", "ended")]
    answered = published[1][0]
    assert isinstance(answered, CallAnswered) and answered.answered_by_id == "r1"
    assert not any(isinstance(e, CallAbandoned | CallEnded) and e.call_id != call_id_for("abc") for e, _ in published)


async def test_a_hang_up_ends_a_waiting_question() -> None:
    board, published = _board(wait=5)
    asked = asyncio.create_task(board.route(Question("abc", "c1", "x")))
    await asyncio.sleep(0.01)
    board.abandoned("abc")
    assert await asyncio.wait_for(asked, 1) == Hangup("abandoned")
    assert isinstance(published[-1][0], CallAbandoned)
    assert published[-1][0].abandoned_at <= T0 + timedelta(seconds=1)


async def test_a_busy_desk_is_reported_declined_once_and_the_question_waits_for_the_next_offer() -> None:
    board, published = _board()
    asked = asyncio.create_task(board.route(Question("abc", "c1", "x")))
    await asyncio.sleep(0)
    board.router_decided(_offer(call_id_for("abc")))
    await asked
    again = asyncio.create_task(board.route(Question("abc", "c1", "x", refused_with=486)))
    await asyncio.sleep(0.05)
    assert not again.done()  # the router decides what rings next
    [declined] = [(e, i) for e, i in published if isinstance(e, CallDeclined)]
    assert declined[1].endswith(":declined:1")
    assert (declined[0].attempt, declined[0].reason) == (1, "busy")
    nxt = _offer(call_id_for("abc")).model_copy(update={"target_id": "r2", "attempt": 2})
    board.router_decided(nxt)
    answer = await asyncio.wait_for(again, 1)
    assert isinstance(answer, Ring) and answer.uris == ("sip:r2@127.0.0.1:5082",)


async def test_a_silent_router_rings_the_desks_last_known_available_then_the_vendors() -> None:
    board, published = _board(wait=0.05)
    board.learn_presence("c1", "r2", "available", T0 - timedelta(minutes=5))
    board.learn_presence("c1", "r1", "available", T0 - timedelta(minutes=9))
    board.learn_presence("c1", "r1", "paused", T0 - timedelta(minutes=1))  # newer: r1 paused
    desks = await board.route(Question("abc", "c1", "x"))
    assert isinstance(desks, Ring) and desks.uris == ("sip:r2@127.0.0.1:5082",)
    assert desks.timeout_seconds == 18 - 12  # until the router would hand the call to a vendor (12 s lead)
    vendors = await board.route(Question("abc", "c1", "x"))  # rang out: the vendors at once, no second wait
    assert isinstance(vendors, Ring) and vendors.uris == ("sip:va@127.0.0.1:5091", "sip:vb@127.0.0.1:5092")
    board.answered("abc", "sip:r2@127.0.0.1:5082")
    answered = published[-1][0]
    assert isinstance(answered, CallAnswered) and (answered.answered_by_kind, answered.answered_by_id) == (
        "receptionist",
        "r2",
    )
    # r2 is on that call: another call with the router silent goes to the vendors
    other = await board.route(Question("def", "c1", "x"))
    assert isinstance(other, Ring) and other.uris[0].startswith("sip:va@")


async def test_a_registered_desk_phone_is_rung_when_the_router_is_silent() -> None:
    board, published = _board(wait=0.05)
    assert board.registered("r1@127.0.0.1", 60) == 60
    assert board.registered("nobody@127.0.0.1", 60) is None
    answer = await board.route(Question("abc", "c1", "x"))
    assert isinstance(answer, Ring) and answer.uris == ("sip:r1@127.0.0.1:5081",)
    assert [e.status for e, _ in published if isinstance(e, AgentStatusChanged)] == ["available"]


async def test_a_call_asked_about_again_after_a_restart_is_published_under_another_id() -> None:
    """A restarted bridge has no memory of the call: its call.received is another event (another moment),
    which the router takes as the same call by call_id, never an id reused for other content."""
    first, published = _board(wait=0.01)
    await first.route(Question("abc", "c1", "x"))
    restarted = Switchboard(
        lambda e, i: published.append((e, i)),
        caller_key=b"k" * 32,
        router_wait_seconds=0.01,
        clock=lambda: T0 + timedelta(seconds=4),
    )
    restarted.learn_clinic(clinic())
    await restarted.route(Question("abc", "c1", "x"))
    ids = [i for e, i in published if isinstance(e, CallReceived)]
    assert len(ids) == 2 and ids[0] != ids[1] and all(i.startswith(f"{call_id_for('abc')}:received") for i in ids)
