"""The call lifecycle: every state against every input, and random orders of a call's events
(outcomes that overtake their call, stale timers, late vendor answers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.call_router.domain import lifecycle as lc
from frontdesk.call_router.domain.lifecycle import Status, StoredCall

VENDORS = ("acme", "bolt")


# --- from_row --------------------------------------------------------------------------------------


def test_a_row_maps_onto_the_lifecycle(stored_call: Callable[..., StoredCall]) -> None:
    assert lc.from_row(None).status == Status.NONE
    assert lc.from_row(stored_call(attempt=0)).status == Status.RECEIVED
    assert lc.from_row(stored_call(status="unrouted", attempt=0)).status == Status.UNROUTED
    handed = lc.from_row(
        stored_call(status="with_vendor", attempt=3, tried=["pool:a", "vendor:acme"], vendor_id="bolt")
    )
    assert (handed.status, handed.attempt, handed.holders) == (Status.WITH_VENDOR, 3, ("acme", "bolt"))
    answered = lc.from_row(
        stored_call(
            status="answered",
            vendor_id="acme",
            tried=["vendor:bolt"],
            answered_by_kind="answering_service",
            answered_by_id="acme",
        )
    )
    assert answered.withdrawn == {"bolt"}
    assert lc.from_row(stored_call(status="abandoned", vendor_id="acme")).withdrawn == {"acme"}


def test_the_rules_still_taken_inside_sql_are_these() -> None:
    # call_router_answer, _ring_timeout and _vendor_deadline decide under the lock, for one round trip
    # (the module docstring): they must keep to the same rules until the decision moves out of SQL.
    functions = (Path(lc.__file__).parents[1] / "functions.sql").read_text()
    hedging = functions[functions.index("FUNCTION call_router_vendor_deadline") :]
    assert "o_call.status NOT IN ('ringing', 'with_vendor')" in hedging  # answer: WAITING
    assert {"ringing" if s == Status.RECEIVED else s.value for s in lc.WAITING} == {"ringing", "with_vendor"}
    assert "o_call.status <> 'with_vendor' OR NOT (" in hedging  # deadline: a holder of a handed-off call
    ring = functions[functions.index("FUNCTION call_router_ring_timeout") :]
    assert "o_call.status <> 'ringing' OR o_call.attempt <> p_attempt" in ring


# --- every state x every input -----------------------------------------------------------------------

STATES = {
    Status.NONE: lc.Call(Status.NONE),
    Status.RECEIVED: lc.Call(Status.RECEIVED),
    Status.UNROUTED: lc.Call(Status.UNROUTED),
    Status.RINGING: lc.Call(Status.RINGING, attempt=2),
    Status.WITH_VENDOR: lc.Call(Status.WITH_VENDOR, attempt=2, holders=("acme",)),
    Status.ANSWERED: lc.Call(Status.ANSWERED, 2, ("acme", "bolt"), ("answering_service", "acme")),
    Status.ABANDONED: lc.Call(Status.ABANDONED, 2, ("acme", "bolt")),
    Status.ENDED: lc.Call(Status.ENDED, 2, ("acme", "bolt"), ("answering_service", "acme")),
}
INPUTS: dict[str, lc.Input] = {
    "received": lc.Received(),
    "unrouted": lc.Unrouted(),
    "offered": lc.Offered(3),
    "handed_off": lc.HandedOff("bolt", 3),
    "ring_timeout": lc.RingTimeout(2),
    "stale_ring_timeout": lc.RingTimeout(1),
    "declined": lc.Declined(2),
    "stale_declined": lc.Declined(1),
    "vendor_deadline": lc.VendorDeadline("acme"),
    "deadline_of_other": lc.VendorDeadline("bolt"),
    "hedge_due": lc.HedgeDue(),
    "answered": lc.Answered("receptionist", "r1"),
    "vendor_answered": lc.Answered("answering_service", "bolt", sender="bolt"),
    "abandoned": lc.Abandoned(),
    "ended": lc.Ended(),
}
N, RE, UN, RI, WV, AN, AB, EN = (
    Status.NONE,
    Status.RECEIVED,
    Status.UNROUTED,
    Status.RINGING,
    Status.WITH_VENDOR,
    Status.ANSWERED,
    Status.ABANDONED,
    Status.ENDED,
)
# (state, input) -> the state after it, for the inputs that are accepted; every other pair is ignored
# (state unchanged, one Ignore effect) except where ACCEPTED_IN_PLACE says what it does instead.
ACCEPTED = {
    (N, "received"): RE,
    (RE, "unrouted"): UN,
    **{(s, "offered"): RI for s in (RE, UN, RI)},
    **{(s, "handed_off"): WV for s in (RE, UN, RI, WV)},
    (RI, "ring_timeout"): RI,
    (RI, "declined"): RI,
    (WV, "vendor_deadline"): WV,
    (WV, "hedge_due"): WV,
    **{(s, a): AN for s in (RE, RI, WV) for a in ("answered", "vendor_answered")},
    **{(s, "abandoned"): AB for s in (RE, UN, RI, WV)},
    **{(s, o): N for s in (N,) for o in ("answered", "vendor_answered", "abandoned", "ended")},  # kept early
    **{(s, "ended"): s for s in (RE, RI, WV)},  # kept early: the answer has not been seen yet
    (AN, "ended"): EN,
    **{(s, "vendor_answered"): s for s in (AN, AB, EN)},  # bolt was withdrawn: a late answer, recorded
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("name", list(INPUTS))
def test_each_input_in_each_state(state: Status, name: str) -> None:
    step = lc.transition(STATES[state], INPUTS[name])
    if (state, name) in ACCEPTED:
        assert step.accepted and step.call.status == ACCEPTED[(state, name)], step
    else:
        assert not step.accepted and step.call == STATES[state], step
        assert len(step.effects) == 1


def test_an_answer_withdraws_every_other_holder_and_replays_a_kept_end() -> None:
    call = lc.Call(Status.WITH_VENDOR, 4, ("acme", "bolt"), early=frozenset({lc.ENDED}))
    step = lc.transition(call, lc.Answered("answering_service", "bolt", sender="bolt"))
    assert step.effects == (
        lc.RecordAnswer("answering_service", "bolt"),
        lc.CancelTimers(4, hedge=True),
        lc.ReleaseRinging(),
        lc.Withdraw(("acme",), "answered_elsewhere"),
        lc.ReplayEarly(lc.ENDED),
    )
    assert lc.transition(step.call, lc.Ended()).effects == (lc.RecordEnd(None),)


def test_the_end_of_a_receptionists_call_makes_her_idle() -> None:
    answered = lc.transition(lc.Call(Status.RINGING, 1), lc.Answered("receptionist", "r1")).call
    assert lc.transition(answered, lc.Ended()).effects == (lc.RecordEnd("r1"),)


def test_a_declined_offer_moves_on_at_once_and_pauses_nobody() -> None:
    step = lc.transition(lc.Call(Status.RINGING, 3), lc.Declined(3))
    assert step.effects == (lc.CancelTimers(3, hedge=False), lc.ReleaseRinging(), lc.Route(missed=True))
    assert not any(isinstance(e, lc.RecordMissed) for e in step.effects)


def test_an_abandon_withdraws_every_holder() -> None:
    step = lc.transition(lc.Call(Status.WITH_VENDOR, 2, ("acme", "bolt")), lc.Abandoned())
    assert step.effects == (
        lc.RecordAbandon(),
        lc.CancelTimers(2, hedge=True),
        lc.ReleaseRinging(),
        lc.Withdraw(("acme", "bolt"), "abandoned"),
    )


def test_pages_go_through_every_vendor_holding_the_call_until_one_answers() -> None:
    hedged = lc.Call(Status.WITH_VENDOR, 2, holders=("acme", "bolt"))
    assert lc.page_carriers(hedged) == ("acme", "bolt")  # either may be the silent one
    answered = lc.transition(hedged, lc.Answered("answering_service", "acme", sender="acme")).call
    assert lc.page_carriers(answered) == ("acme",)  # not bolt, told the call is withdrawn
    by_desk = lc.transition(hedged, lc.Answered("receptionist", "r1")).call
    assert lc.page_carriers(by_desk) == ("acme", "bolt")  # no vendor has the caller: both deliver


def test_outcomes_that_overtook_their_call_replay_an_answer_first() -> None:
    call = lc.Call(Status.NONE)
    for outcome in (lc.Abandoned(), lc.Answered("receptionist", "r1"), lc.Ended()):
        call = lc.transition(call, outcome).call
    step = lc.transition(call, lc.Received())
    assert step.effects == (lc.ReplayEarly(lc.ANSWERED),)
    assert step.call.early == {lc.ENDED}


# --- random orders -------------------------------------------------------------------------------------

EXTERNAL = st.one_of(
    st.just(lc.Abandoned()),
    st.just(lc.Ended()),
    st.builds(lc.Answered, st.just("receptionist"), st.sampled_from(["r1", "r2"])),
    st.sampled_from(VENDORS).map(lambda v: lc.Answered("answering_service", v, sender=v)),
    st.integers(0, 4).map(lc.RingTimeout),
    st.integers(0, 4).map(lc.Declined),
    st.sampled_from(VENDORS).map(lc.VendorDeadline),
    st.just(lc.HedgeDue()),
)


@dataclass
class Run:
    """A call driven through random events; the router's own routes follow its Route effects."""

    routes: st.DataObject
    call: lc.Call = field(default_factory=lambda: lc.Call(Status.NONE))
    statuses: list[Status] = field(default_factory=list)
    effects: list[lc.Effect] = field(default_factory=list)
    outcomes: list[lc.Input] = field(default_factory=list)  # outcomes in the order they applied
    early: dict[str, lc.Input] = field(default_factory=dict)

    def apply(self, event: lc.Input) -> None:
        step = lc.transition(self.call, event)
        if isinstance(event, lc.RingTimeout | lc.Declined | lc.VendorDeadline | lc.HedgeDue):
            assert step.call == self.call  # timers change nothing by themselves
        self.call = step.call
        self.statuses.append(step.call.status)
        self.effects.extend(step.effects)
        if any(isinstance(e, lc.RecordAnswer | lc.RecordAbandon) for e in step.effects):
            self.outcomes.append(event)
        for effect in step.effects:
            self.follow(event, effect)

    def follow(self, event: lc.Input, effect: lc.Effect) -> None:
        match effect:
            case lc.KeepEarly(outcome):
                self.early.setdefault(outcome, event)
            case lc.ReplayEarly(outcome):
                self.apply(self.early.pop(outcome))
            case lc.Route() | lc.FailOver() | lc.Hedge():
                attempt = self.call.attempt + 1
                how = "vendor" if isinstance(effect, lc.FailOver | lc.Hedge) else None
                how = how or self.routes.draw(st.sampled_from(["offer", "vendor", "hold"]))
                if how == "offer":
                    self.apply(lc.Offered(attempt))
                elif how == "hold" and self.call.status == Status.RECEIVED:  # unknown clinic, no fallback
                    self.apply(lc.Unrouted())
                else:
                    self.apply(lc.HandedOff(self.routes.draw(st.sampled_from(VENDORS)), attempt))


@settings(max_examples=400)
@given(st.lists(EXTERNAL, max_size=12), st.integers(0, 12), st.data())
def test_any_order_of_events(events: list[lc.Input], at: int, data: st.DataObject) -> None:
    events = [*events[:at], lc.Received(), *events[at:]]
    run = Run(data)
    for event in events:
        run.apply(event)

    answers = [e for e in run.effects if isinstance(e, lc.RecordAnswer)]
    abandons = [e for e in run.effects if isinstance(e, lc.RecordAbandon)]
    assert len(answers) <= 1 and len(abandons) <= 1 and not (answers and abandons)
    final = run.call.status
    if run.outcomes:  # the first outcome that applied decides the call
        first = run.outcomes[0]
        if isinstance(first, lc.Answered):
            assert answers == [lc.RecordAnswer(first.kind, first.by)]
            ended = any(isinstance(e, lc.Ended) for e in events)
            assert final == (Status.ENDED if ended else Status.ANSWERED)
        else:
            assert abandons and final == Status.ABANDONED
    else:
        assert final in {Status.RECEIVED, Status.UNROUTED, Status.RINGING, Status.WITH_VENDOR}
    # an answered call is never abandoned; a final state is never left
    if Status.ANSWERED in run.statuses:
        assert Status.ABANDONED not in run.statuses
    for before, after in zip(run.statuses, run.statuses[1:], strict=False):
        if before in lc.FINAL:
            assert after == before
    # outcomes that overtook their call are all applied or dropped once it arrives
    assert lc.ANSWERED not in run.call.early and lc.ABANDONED not in run.call.early
    # withdrawals: never the answerer, each holder once, and only once the call is gone
    withdrawn = [v for e in run.effects if isinstance(e, lc.Withdraw) for v in e.vendors]
    assert len(withdrawn) == len(set(withdrawn)) and set(withdrawn) == run.call.withdrawn
    # a late answer comes only from a withdrawn vendor and is never counted
    for e in run.effects:
        if isinstance(e, lc.RecordLateAnswer):
            assert e.vendor in run.call.withdrawn
    # an urgent call's pages: someone delivers them once a vendor had the call, and a vendor told
    # the call is withdrawn only when no vendor has the caller
    carriers = set(lc.page_carriers(run.call))
    assert bool(carriers) >= bool(run.call.holders)
    if carriers & run.call.withdrawn:
        assert carriers == set(run.call.holders) and run.call.answered_by != ("answering_service", *carriers)
    # no route after an outcome: stale timers and late events do nothing
    done = next((i for i, s in enumerate(run.statuses) if s in {Status.ANSWERED, Status.ABANDONED}), None)
    if done is not None:
        assert all(s in {Status.ANSWERED, Status.ABANDONED, Status.ENDED} for s in run.statuses[done:])
