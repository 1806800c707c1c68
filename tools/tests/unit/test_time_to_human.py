"""Time to a human and the reason of each call over budget (tools/time_to_human.py), by hand-built
timelines: the default budget (3 x 6 s = 18 s), two vendors with a 6 s answer target, receptionist
offers ringing 5 s."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import (
    CallAbandoned,
    CallAnswered,
    CallOffered,
    CallOverflowed,
    CallReceived,
    CallRouted,
    ClinicConfig,
    Event,
)
from frontdesk.tools.time_to_human import (
    CallTimeline,
    Offer,
    build_timelines,
    classify,
    format_time_to_human,
    percentile,
    summarize,
)

PRIMARY, SECONDARY = "v-primary", "v-secondary"
BOTH = frozenset({PRIMARY, SECONDARY})


def rec(at: float, who: str = "rec-1") -> Offer:
    return Offer(at, "receptionist", who, 5.0)


def vendor(at: float, who: str = PRIMARY) -> Offer:
    return Offer(at, "answering_service", who, 6.0)


def call(
    *offers: Offer,
    answered_at: float | None = None,
    by: str = "answering_service",
    abandoned_at: float | None = None,
    live: frozenset[str] = BOTH,
    routed_at: float | None = 0.05,
) -> CallTimeline:
    return CallTimeline(
        call_id="c1",
        clinic_id="clinic",
        budget=18.0,
        routed_at=routed_at,
        offers=offers,
        answered_at=answered_at,
        answered_by=by if answered_at is not None else None,
        abandoned_at=abandoned_at,
        live_vendors=live,
    )


def test_answered_within_the_budget_is_not_late() -> None:
    assert classify(call(rec(0.1), answered_at=2.5, by="receptionist")) is None
    assert classify(call(rec(0.1), rec(5.2), vendor(10.3), answered_at=18.0)) is None


def test_a_caller_who_hangs_up_before_the_budget_ends_is_the_callers() -> None:
    verdict = classify(call(rec(0.1), abandoned_at=9.0))
    assert verdict is not None and verdict.reason == "caller_abandoned" and verdict.responsible == "caller"


def test_a_call_routed_after_the_budget_is_the_routers() -> None:
    verdict = classify(call(vendor(19.0), answered_at=21.0, routed_at=19.0))
    assert verdict is not None and verdict.reason == "routed_late" and verdict.router_controlled
    never = classify(call(abandoned_at=40.0, routed_at=None))
    assert never is not None and never.reason == "routed_late" and "never" in never.detail


def test_a_silent_primary_then_a_secondary_offered_past_the_budget_is_the_routers() -> None:
    """Today's failover: the primary gets the call at the hand-off point (12 s), misses its 6 s target,
    and only then is the secondary offered, at 18 s, with no time left to answer."""
    late = call(
        rec(0.1), rec(5.1), vendor(12.0), vendor(18.1, SECONDARY), answered_at=21.0, live=frozenset({SECONDARY})
    )
    verdict = classify(late)
    assert verdict is not None and verdict.reason == "handoff_too_late" and verdict.router_controlled
    assert SECONDARY in verdict.detail and "18.1" in verdict.detail


def test_a_failover_after_a_live_vendor_missed_its_fair_chance_is_that_vendors() -> None:
    """The secondary held the call from 0 s (the primary had failed recently, so it was skipped), was
    slow past its 12 s target; the primary, recovered meanwhile, got the failover at 12 s: the miss is
    the secondary's, not a late hand-off."""
    late = call(
        Offer(0.0, "answering_service", SECONDARY, 12.0),
        Offer(12.0, "answering_service", PRIMARY, 12.0),
        answered_at=18.7,
    )
    verdict = classify(late)
    assert verdict is not None and verdict.reason == "vendor_slow" and not verdict.router_controlled


def test_a_vendor_offered_too_late_for_its_answer_target_is_the_routers() -> None:
    """Handed over at 14 s with a 6 s target: even a vendor on target answers past 18 s."""
    verdict = classify(call(rec(0.1), rec(5.1), rec(10.1), vendor(15.1), answered_at=19.5))
    assert verdict is not None and verdict.reason == "handoff_too_late"


def test_a_hand_off_at_the_last_fair_moment_stays_fair_despite_the_relay() -> None:
    """Decided at 12.0 s with a 6 s target, published 0.3 s later: the vendor's slowness is its own."""
    verdict = classify(call(rec(0.1), rec(5.1), vendor(12.3), answered_at=19.0))
    assert verdict is not None and verdict.reason == "vendor_slow"
    too_late = classify(call(rec(0.1), rec(5.1), vendor(12.6), answered_at=19.0))
    assert too_late is not None and too_late.reason == "handoff_too_late"


def test_no_vendor_offered_at_all_is_the_routers() -> None:
    verdict = classify(call(rec(0.1), rec(5.1), rec(10.1), rec(15.1), abandoned_at=30.0))
    assert verdict is not None and verdict.reason == "handoff_too_late" and "no vendor" in verdict.detail


def test_only_a_silent_vendor_offered_while_a_live_one_is_configured_is_the_routers() -> None:
    verdict = classify(call(vendor(0.2), abandoned_at=30.0, live=frozenset({SECONDARY})))
    assert verdict is not None and verdict.reason == "handoff_too_late" and "silent" in verdict.detail


def test_a_vendor_slower_than_its_target_after_a_fair_hand_off_is_the_vendors() -> None:
    """Nobody at the desk: the router hands over at 12 s with the vendor's full 6 s left."""
    verdict = classify(call(rec(0.1), rec(5.1), vendor(12.0), answered_at=19.5))
    assert verdict is not None and verdict.reason == "vendor_slow" and verdict.responsible == "vendor"


def test_a_secondary_offered_in_parallel_in_time_keeps_the_router_clear() -> None:
    """Both vendors got their full target inside the budget; both were slow: the vendors' fault."""
    verdict = classify(call(vendor(6.0), vendor(12.0, SECONDARY), answered_at=19.0))
    assert verdict is not None and verdict.reason == "vendor_slow"


def test_both_vendors_offered_in_time_and_silent_is_the_vendors() -> None:
    verdict = classify(call(vendor(6.0), vendor(12.0, SECONDARY), abandoned_at=45.0, live=frozenset()))
    assert verdict is not None and verdict.reason == "vendors_silent" and not verdict.router_controlled


def test_a_vendor_skipped_as_unhealthy_is_not_held_against_the_router() -> None:
    """The primary (live again, but still marked failed by the router) is never offered; the secondary
    gets its full target and is slow: the vendor's."""
    verdict = classify(call(vendor(12.0, SECONDARY), answered_at=19.0))
    assert verdict is not None and verdict.reason == "vendor_slow"


def test_a_late_receptionist_after_a_fair_vendor_offer_is_unexplained_and_counted_against_the_router() -> None:
    verdict = classify(call(rec(0.1), vendor(12.0), answered_at=19.0, by="receptionist"))
    assert verdict is not None and verdict.reason == "unexplained" and verdict.router_controlled


@given(
    offers=st.lists(
        st.tuples(st.floats(0, 30), st.sampled_from(["receptionist", "answering_service"]), st.sampled_from([0, 1])),
        max_size=6,
    ),
    answered_at=st.none() | st.floats(0, 60),
    abandoned_at=st.none() | st.floats(0, 120),
    live=st.sets(st.sampled_from([PRIMARY, SECONDARY])),
)
def test_every_call_is_in_budget_or_has_exactly_one_reason(
    offers: list[tuple[float, str, int]], answered_at: float | None, abandoned_at: float | None, live: set[str]
) -> None:
    built = tuple(
        vendor(at, (PRIMARY, SECONDARY)[n]) if kind == "answering_service" else rec(at) for at, kind, n in offers
    )
    timeline = call(*built, answered_at=answered_at, abandoned_at=abandoned_at, live=frozenset(live))
    verdict = classify(timeline)
    if answered_at is not None and answered_at <= 18:
        assert verdict is None
    else:
        assert verdict is not None and verdict.responsible in ("caller", "router", "vendor")
        # A fair, live hand-off can never be blamed on the router unless a live vendor came too late.
        fair_live = [o for o in built if o.kind == "answering_service" and o.fair(18) and o.target in live]
        late_live = [o for o in built if o.kind == "answering_service" and not o.fair(18) and o.target in live]
        if fair_live and not late_live and verdict.reason != "caller_abandoned" and timeline.answered_by:
            assert verdict.reason == "vendor_slow"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([], 50) is None


CLINIC = ClinicConfig.model_validate(
    {
        "clinic_id": "tth-clinic",
        "name": "TTH",
        "timezone": "America/Chicago",
        "phone": {
            "answering_service": PRIMARY,
            "secondary_answering_service": SECONDARY,
            "vendors": [
                {"vendor_id": PRIMARY, "answer_target_seconds": 6},
                {"vendor_id": SECONDARY, "answer_target_seconds": 6},
            ],
        },
    }
)
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def env(event: Event) -> Envelope[Event]:
    return Envelope(id=f"e-{id(event)}", source="test", type=event.event_type, time=T0, data=event)


def at(seconds: float) -> int:
    return T0_MS + int(seconds * 1000)


def test_timelines_come_from_record_timestamps_and_the_silent_window() -> None:
    """A silent primary: handed the call at 12 s, the secondary only at 18.2 s, which answers at 21 s.
    The second answer (the primary, too late, after a withdrawal) does not count."""
    cid = CLINIC.clinic_id
    base = {"call_id": "c9", "clinic_id": cid}
    stamped = [
        (at(0), env(CallReceived(**base, received_at=T0, caller_token="tok"))),
        (at(0.04), env(CallRouted(**base, target_kind="receptionist", target_id="r", reason="x", answer_by=T0))),
        (
            at(0.05),
            env(
                CallOffered(
                    **base, target_kind="receptionist", target_id="r", ring_timeout_seconds=5, offered_at=T0, attempt=1
                )
            ),
        ),
        (
            at(12.0),
            env(
                CallOverflowed(
                    **base, vendor_id=PRIMARY, reason="x", overflowed_at=T0, answer_by=T0, caller_token="t", attempt=2
                )
            ),
        ),
        (
            at(18.2),
            env(
                CallOverflowed(
                    **base, vendor_id=SECONDARY, reason="x", overflowed_at=T0, answer_by=T0, caller_token="t", attempt=3
                )
            ),
        ),
        (
            at(21.0),
            env(CallAnswered(**base, answered_at=T0, answered_by_kind="answering_service", answered_by_id=SECONDARY)),
        ),
        (
            at(25.0),
            env(CallAnswered(**base, answered_at=T0, answered_by_kind="answering_service", answered_by_id=PRIMARY)),
        ),
        (at(1.0), env(CallAbandoned(call_id="other", clinic_id="not-ours", abandoned_at=T0))),
    ]
    silent_window = (at(-60), at(60))
    (timeline,) = build_timelines(
        stamped,
        {cid: CLINIC},
        lambda v, start, end: v == PRIMARY and start < silent_window[1] and silent_window[0] <= end,
    )
    assert timeline.answered_at == 21.0 and timeline.routed_at == 0.04
    assert [(o.at, o.target, o.answer_within) for o in timeline.offers] == [
        (0.05, "r", 5.0),
        (12.0, PRIMARY, 6.0),
        (18.2, SECONDARY, 6.0),
    ]
    assert timeline.live_vendors == {SECONDARY}
    summary = summarize([timeline])
    assert summary.p50 == 21.0 and summary.answered == 1 and summary.calls == 1
    (breach,) = summary.router_breaches
    assert breach.reason == "handoff_too_late" and summary.counts() == {"router": 1, "vendor": 0}
    assert build_timelines(stamped, {cid: CLINIC})[0].live_vendors == {PRIMARY, SECONDARY}
    assert summary.max == 21.0
    report = "\n".join(format_time_to_human([CLINIC], {cid: summary}))
    assert "tth-clinic" in report and "c9: handoff_too_late (router)" in report
