"""The Now screen's rules: a call's state from its facts in any order, the day's metrics by hand,
and the clinic's local day across DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.console.domain.board import Call, day_metrics, local_day

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_answer_stamped_before_the_arrival_waited_no_time() -> None:
    # the phone system's clock ahead of the vendor's: no negative wait lowers the day's ASA
    m = day_metrics([Call("a", at(60), answered_at=at(0)), Call("b", at(0), answered_at=at(10))], 18)
    assert (m.answered, m.answered_within_budget, m.asa_seconds) == (2, 2, pytest.approx(5))


def test_metrics_by_hand() -> None:
    calls = [
        Call("a", at(0), answered_at=at(10)),  # within the 18 s budget
        Call("b", at(0), answered_at=at(30), overflowed_at=at(12), answered_by_kind="answering_service"),
        Call("c", at(0), abandoned_at=at(3)),  # short abandon: out of SL's denominator
        Call("d", at(0), abandoned_at=at(40)),
        Call("e", at(0)),  # still waiting
        Call("f", None, answered_at=at(5)),  # arrival not known yet: not counted
    ]
    m = day_metrics(calls, budget_seconds=18)
    assert (m.offered, m.answered, m.answered_within_budget, m.abandoned, m.short_abandons, m.overflowed) == (
        5, 2, 1, 2, 1, 1,
    )  # fmt: skip
    assert m.service_level == pytest.approx(1 / 4)
    assert m.asa_seconds == pytest.approx(20)
    assert m.abandonment_rate == pytest.approx(2 / 5)
    assert m.overflow_rate == pytest.approx(1 / 5)
    assert m.below_target


def test_no_calls_has_no_rates() -> None:
    m = day_metrics([], 18)
    assert m.service_level is m.asa_seconds is m.abandonment_rate is None
    assert not m.below_target


FACTS = {
    "received_at": at(0),
    "offered_at": at(1),
    "overflowed_at": at(12),
    "answered_at": at(15),
    "ended_at": at(90),
}


@pytest.mark.parametrize("order", list(itertools.permutations(FACTS)))
def test_state_depends_on_facts_not_their_order(order: tuple[str, ...]) -> None:
    """Whatever order the events bring the facts in, the state after all of them is the same."""
    known: dict[str, datetime] = {}
    for name in order:
        known[name] = FACTS[name]
    call = Call("x", known.pop("received_at"), **known)
    assert call.state == "ended"


def test_states() -> None:
    assert Call("x", at(0)).state == "waiting"
    assert Call("x", at(0), offered_at=at(1)).state == "ringing"
    assert Call("x", at(0), offered_at=at(1), overflowed_at=at(12)).state == "with_vendor"
    assert Call("x", at(0), answered_at=at(3)).state == "answered"
    assert Call("x", at(0), abandoned_at=at(3)).state == "abandoned"
    overdue = Call("x", at(0), overflowed_at=at(12), vendor_answer_by=at(24))
    assert overdue.vendor_overdue(at(25)) and not overdue.vendor_overdue(at(23))


def test_local_day_is_the_clinics_own() -> None:
    # 02:00 UTC on 2 March is still 1 March in Los Angeles
    today, start, end = local_day(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), ZoneInfo("America/Los_Angeles"))
    assert today.isoformat() == "2026-03-01"
    assert start == datetime(2026, 3, 1, 8, 0, tzinfo=UTC) and end == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_dst_days_are_23_and_25_hours() -> None:
    zone = ZoneInfo("Europe/Berlin")
    _, start, end = local_day(datetime(2026, 3, 29, 12, tzinfo=UTC), zone)
    assert end - start == timedelta(hours=23)
    _, start, end = local_day(datetime(2026, 10, 25, 12, tzinfo=UTC), zone)
    assert end - start == timedelta(hours=25)


def test_a_skipped_midnight_starts_the_day_at_the_jump() -> None:
    # America/Santiago springs forward at 00:00 local (to 01:00) on 6 September 2026
    zone = ZoneInfo("America/Santiago")
    today, start, _ = local_day(datetime(2026, 9, 6, 15, tzinfo=UTC), zone)
    assert today.isoformat() == "2026-09-06"
    assert start.astimezone(zone).date() == today
    assert (start - timedelta(seconds=1)).astimezone(zone).date() < today
