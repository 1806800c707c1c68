"""The bridge's rules: what the proxy rings next for a call, given the router's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.phone_bridge.domain import calls
from frontdesk.phone_bridge.domain.calls import (
    MIN_RING_SECONDS,
    VENDOR_RING_SECONDS,
    CallState,
    DeskOffer,
    Hangup,
    Ring,
    Target,
    VendorHandover,
    Wait,
)
from frontdesk.phone_bridge.domain.directory import Directory, directory

from .clinics import clinic

T0 = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
BUDGET = 18.0


def _dir() -> Directory:
    found = directory(clinic())
    assert found is not None
    return found


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _call(*decisions: calls.Decision) -> CallState:
    state = CallState(call_id="sip-1", clinic_id="c1", received_at=T0)
    for d in decisions:
        state = state.decide(d)
    return state


def _desk(rid: str, attempt: int, offered: float, timeout: float = 4.0) -> DeskOffer:
    return DeskOffer(Target("receptionist", rid), attempt, _at(offered + timeout))


def _vendor(vid: str, at: float) -> VendorHandover:
    return VendorHandover(vid, _at(at), _at(BUDGET))


def test_no_decision_yet_waits() -> None:
    assert calls.next_ring(_call(), _dir(), T0)[0] == Wait()


def test_a_desk_offer_rings_until_the_routers_own_timeout() -> None:
    ring, state = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(0.1))
    assert isinstance(ring, Ring)
    assert ring.uris == ("sip:r1@127.0.0.1:5081",)
    assert abs(ring.timeout_seconds - 3.9) < 1e-9
    assert calls.next_ring(state, _dir(), _at(0.2))[0] == Wait()  # handed once; then the router's turn


def test_the_next_offer_rings_after_the_first() -> None:
    _, state = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(0.1))
    ring, _ = calls.next_ring(state.decide(_desk("r2", 2, 4.0)), _dir(), _at(4.1))
    assert isinstance(ring, Ring) and ring.uris == ("sip:r2@127.0.0.1:5082",)


def test_an_offer_with_less_than_a_ring_left_is_not_rung() -> None:
    assert calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(3.5))[0] == Wait()


def test_a_target_without_a_sip_uri_is_not_rung() -> None:
    offer = DeskOffer(Target("pool", "desk"), 1, _at(4))
    assert calls.next_ring(_call(offer), _dir(), T0)[0] == Wait()


def test_ring_all_rings_every_member_of_the_attempt() -> None:
    ring, _ = calls.next_ring(_call(_desk("r1", 1, 0.0), _desk("r2", 1, 0.0)), _dir(), T0)
    assert isinstance(ring, Ring) and set(ring.uris) == {"sip:r1@127.0.0.1:5081", "sip:r2@127.0.0.1:5082"}


def test_a_vendor_rings_until_the_other_vendors_hedge_moment() -> None:
    ring, state = calls.next_ring(_call(_vendor("va", 6.0)), _dir(), _at(6.0))
    assert isinstance(ring, Ring) and ring.uris == ("sip:va@127.0.0.1:5091",)
    assert abs(ring.timeout_seconds - 6.0) < 1e-9  # vb must have the call by 18 - 6 = 12 s
    ring, _ = calls.next_ring(state.decide(_vendor("vb", 12.0)), _dir(), _at(12.0))
    assert isinstance(ring, Ring)  # both hold the call: both ring, the first answer wins
    assert ring.uris == ("sip:va@127.0.0.1:5091", "sip:vb@127.0.0.1:5092")
    assert ring.timeout_seconds == VENDOR_RING_SECONDS


def test_a_closed_clinics_vendor_rings_at_once() -> None:
    ring, _ = calls.next_ring(_call(_vendor("va", 0.0)), _dir(), _at(0.05))
    assert isinstance(ring, Ring) and ring.uris == ("sip:va@127.0.0.1:5091",)


def test_outcomes_happen_once_and_in_order() -> None:
    _, state = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), T0)
    assert calls.ended(state, _at(1)) is None  # not answered yet
    answered = calls.answered(state, "sip:r1@127.0.0.1:5081", _at(2))
    assert answered is not None and answered.answered_by == Target("receptionist", "r1")
    assert calls.answered(answered, "sip:r1@127.0.0.1:5081", _at(3)) is None
    assert calls.abandoned(answered, _at(3)) is None
    assert calls.next_ring(answered, _dir(), _at(3))[0] == Hangup("answered")
    assert calls.ended(answered, _at(9)) is not None
    assert calls.abandoned(state, _at(1)) is not None


def test_an_answer_from_an_unknown_uri_is_the_latest_target() -> None:
    _, state = calls.next_ring(_call(_vendor("va", 0.0)), _dir(), T0)
    after = calls.answered(state, "sip:someone@else", _at(1))
    assert after is not None and after.answered_by == Target("answering_service", "va")


def test_the_router_silent_rings_every_vendor() -> None:
    ring = calls.fallback_ring(_dir())
    assert ring is not None and ring.uris == ("sip:va@127.0.0.1:5091", "sip:vb@127.0.0.1:5092")


def test_call_ids_are_stable_valid_ids_and_hide_the_call_id() -> None:
    a = calls.call_id_for("abc@host.example")
    assert a == calls.call_id_for("abc@host.example") != calls.call_id_for("abd@host.example")
    assert a.startswith("sip-") and "host" not in a


offers = st.lists(st.tuples(st.sampled_from(["r1", "r2", "va", "vb"]), st.floats(0, 17), st.floats(0.5, 8)), max_size=8)


@given(offers, st.floats(0, 0.5))
def test_no_branch_outlives_the_routers_step_and_each_step_rings_once(steps: list, lag: float) -> None:
    """Whatever the router decides and however late the bridge sees it: a desk rings no longer than the
    router's offer, a vendor at least a ring and at most the proxy's limit, and no step twice."""
    state, seen = _call(), []
    for attempt, (who, at, timeout) in enumerate(sorted(steps, key=lambda s: s[1]), start=1):
        decision = _vendor(who, at) if who.startswith("v") else _desk(who, attempt, at, timeout)
        state = state.decide(decision)
        now = _at(at + lag)
        ring, state = calls.next_ring(state, _dir(), now)
        again, _ = calls.next_ring(state, _dir(), now)
        assert not isinstance(again, Ring)
        if isinstance(ring, Ring):
            seen.append(ring)
            if isinstance(decision, DeskOffer):
                assert now + timedelta(seconds=ring.timeout_seconds) <= decision.ring_until
                assert ring.timeout_seconds >= MIN_RING_SECONDS
            else:
                assert MIN_RING_SECONDS <= ring.timeout_seconds <= VENDOR_RING_SECONDS
    assert len(state.rung) == sum(len(r.branches) for r in seen)


# --- a refusal before the ring timeout (486 Busy, 603 Decline) ------------------------------------------


def test_a_desk_offer_refused_before_its_timeout_is_reported_once() -> None:
    _, state = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(0.1))
    attempt, state = calls.refused(state, _at(0.2))
    assert attempt == 1 and state.declined == {1}
    assert calls.refused(state, _at(0.3))[0] is None  # once per attempt


def test_a_failure_at_the_ring_timeout_is_the_timeout_not_a_refusal() -> None:
    _, state = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(0.1))
    assert calls.refused(state, _at(4.0) - calls.REFUSAL_MARGIN / 2)[0] is None


def test_nothing_is_refused_before_it_was_handed_over_nor_for_a_vendor() -> None:
    assert calls.refused(_call(_desk("r1", 1, 0.0)), _at(0.2))[0] is None
    _, vendor = calls.next_ring(_call(_vendor("va", 0.0)), _dir(), _at(0.1))
    assert calls.refused(vendor, _at(0.2))[0] is None
    _, desk = calls.next_ring(_call(_desk("r1", 1, 0.0)), _dir(), _at(0.1))
    moved_on = desk.decide(_desk("r2", 2, 0.5))  # the router moved on already: nothing to report
    assert calls.refused(moved_on, _at(0.6))[0] is None


def test_sip_statuses_map_to_decline_reasons() -> None:
    assert [calls.decline_reason(s) for s in (486, 600, 603, 404, 480, 503)] == [
        "busy",
        "busy",
        "declined",
        "unavailable",
        "unavailable",
        "unavailable",
    ]
