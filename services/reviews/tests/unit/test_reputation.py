"""Reputation math, checked against hand-computed cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.reviews.domain.reputation import (
    RequestFact,
    average,
    figures,
    nps,
    parse_week,
    previous_week,
    summary,
    week_bounds,
    week_of,
)

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def test_nps_by_hand() -> None:
    # 10 answers: 5 promoters (9, 10), 2 passives (7, 8), 3 detractors (0-6) -> (5 - 3) / 10 = 20 %.
    assert nps([10, 9, 9, 10, 9, 7, 8, 6, 0, 3]) == 20.0
    assert nps([0, 6]) == -100.0
    assert nps([9]) == 100.0
    assert nps([7, 8]) == 0.0
    assert nps([]) is None


@given(st.lists(st.integers(0, 10), min_size=1))
def test_nps_is_within_bounds(scores: list[int]) -> None:
    value = nps(scores)
    assert value is not None and -100 <= value <= 100


def test_average() -> None:
    assert average([5, 4, 1]) == pytest.approx(3.333, abs=1e-3)
    assert average([]) is None


def test_clinic_figures_by_hand() -> None:
    deadline = NOW - timedelta(hours=1)
    facts = [
        RequestFact("dr-a", "stars", 5),
        RequestFact("dr-a", "stars", 2, escalated=True, deadline=deadline, closed_at=deadline - timedelta(hours=3)),
        RequestFact("dr-b", "stars", 1, escalated=True, deadline=deadline, closed_at=None),  # overdue
        RequestFact("dr-b", "stars", 3, escalated=True, deadline=NOW + timedelta(hours=5)),  # open, in time
        RequestFact("dr-b"),  # no answer
    ]
    f = figures(facts, NOW)
    assert (f.requests_sent, f.responses, f.response_rate) == (5, 4, 0.8)
    assert f.average_rating == pytest.approx(2.75)
    assert f.nps is None
    assert f.escalations == 3
    assert f.closed_within_deadline_share == 0.5  # 1 closed in time out of 2 that can be judged


def test_late_closure_does_not_count_as_in_time() -> None:
    deadline = NOW - timedelta(hours=10)
    f = figures([RequestFact("dr-a", "nps", 3, escalated=True, deadline=deadline, closed_at=NOW)], NOW)
    assert f.closed_within_deadline_share == 0.0 and f.nps == -100.0


def test_summary_per_provider() -> None:
    facts = [RequestFact("dr-b", "nps", 10), RequestFact("dr-a", "nps", 0), RequestFact("dr-a")]
    s = summary("clinic-1", "2026-W48", facts, NOW)
    assert s.clinic.requests_sent == 3 and s.clinic.nps == 0.0 and s.clinic.response_rate == pytest.approx(0.6667)
    assert [(p.provider_id, p.requests_sent, p.nps) for p in s.providers] == [("dr-a", 2, -100.0), ("dr-b", 1, 100.0)]


def test_empty_week() -> None:
    f = figures([], NOW)
    assert (f.requests_sent, f.response_rate, f.average_rating, f.nps, f.closed_within_deadline_share) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_weeks_follow_the_clinic_calendar() -> None:
    # Monday 2026-11-30 03:00 UTC is still Sunday evening in New York: week 48 there, week 49 in UTC.
    instant = datetime(2026, 11, 30, 3, tzinfo=UTC)
    assert week_of(instant, NY) == "2026-W48"
    assert week_of(instant, ZoneInfo("UTC")) == "2026-W49"
    assert previous_week(instant, NY) == "2026-W47"


def test_week_bounds_are_local_midnights_and_dst_weeks_are_not_168_hours() -> None:
    start, end = week_bounds("2026-W48", NY)
    assert start == datetime(2026, 11, 23, 5, tzinfo=UTC) and end == datetime(2026, 11, 30, 5, tzinfo=UTC)
    start, end = week_bounds("2026-W44", NY)  # contains Sunday 2026-11-01, fall back
    assert end - start == timedelta(hours=169)


@pytest.mark.parametrize("bad", ["2026-48", "2026-W54", "W48", "", "2026-Wxx"])
def test_a_bad_week_is_refused_with_a_message(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO week"):
        parse_week(bad)
