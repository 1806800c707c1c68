"""Erlang C against domain.md's check values, and the phone metrics on hand-computed cases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.call_router.domain import (
    CallRecord,
    ObservedCall,
    asa_erlang,
    erlang_c,
    hour_metrics,
    required_agents,
    service_level_erlang,
    staffing_for,
    weekly_forecast,
)
from frontdesk.call_router.domain.service_levels import LONGEST_TRANSIT, arrived_at, happened_at

A = 40 * 240 / 3600  # domain.md: 40 calls/h, AHT 240 s -> 2.667 Erlangs


@pytest.mark.parametrize(
    ("n", "p_wait", "sl", "asa"),
    [(4, 0.378, 0.658, 68.1), (5, 0.162, 0.864, 16.6), (6, 0.062, 0.952, 4.5), (7, 0.021, 0.985, 1.2)],
)
def test_erlang_c_check_values_from_domain_md(n: int, p_wait: float, sl: float, asa: float) -> None:
    assert round(erlang_c(n, A), 3) == p_wait
    assert round(service_level_erlang(n, A, 18, 240), 3) == sl
    assert round(asa_erlang(n, A, 240), 1) == asa


def test_ninety_percent_within_three_rings_needs_six() -> None:
    assert required_agents(40, 240, 0.9, 18) == 6
    s = staffing_for(40, 240, 0.9, 18, shrinkage=0.3)
    assert (s.agents, s.scheduled) == (6, 9)  # ceil(6 / 0.7)
    assert s.occupancy == pytest.approx(A / 6)


def test_erlang_c_matches_the_textbook_formula_for_small_n() -> None:
    for n in range(3, 12):
        top = A**n / math.factorial(n) * n / (n - A)
        expected = top / (sum(A**k / math.factorial(k) for k in range(n)) + top)
        assert erlang_c(n, A) == pytest.approx(expected, rel=1e-12)


def test_no_overflow_at_large_traffic() -> None:
    n = required_agents(20_000, 300)  # 1,667 Erlangs
    assert n > 20_000 * 300 / 3600
    assert 0 <= erlang_c(n, 1666.7) <= 1


def test_edge_cases() -> None:
    assert erlang_c(2, 2.0) == 1.0  # N <= A: everyone waits
    assert required_agents(0, 240) == 0
    assert staffing_for(0, 240).agents == 0
    with pytest.raises(ValueError):
        staffing_for(10, 240, shrinkage=1.0)


@given(st.floats(0.1, 500), st.floats(10, 900), st.floats(0.5, 0.99))
def test_required_agents_is_the_smallest_that_meets_the_target(arrivals: float, aht: float, target: float) -> None:
    n = required_agents(arrivals, aht, target, 18)
    a = arrivals * aht / 3600
    assert n > a
    assert service_level_erlang(n, a, 18, aht) >= target
    assert n - 1 <= a or service_level_erlang(n - 1, a, 18, aht) < target


T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_hour_metrics_hand_computed() -> None:
    calls = [
        CallRecord(T0, answered_at=at(4), ended_at=at(124)),  # within budget, 120 s talk
        CallRecord(T0, answered_at=at(18)),  # exactly at the budget: within
        CallRecord(T0, answered_at=at(30), overflowed=True, missed_offers=2),  # late
        CallRecord(T0, abandoned_at=at(3)),  # short abandon: out of the SL denominator
        CallRecord(T0, abandoned_at=at(40)),  # real abandon
        CallRecord(T0, answered_at=at(8), after_hours=True, overflowed=True),
    ]
    m = hour_metrics(calls, 18)
    assert (m.offered, m.answered, m.answered_within_budget) == (6, 4, 3)
    assert (m.abandoned, m.short_abandons) == (2, 1)
    assert m.service_level == pytest.approx(3 / 5)
    assert m.asa_seconds == pytest.approx((4 + 18 + 30 + 8) / 4)
    assert m.abandonment_rate == pytest.approx(2 / 6)
    assert m.overflow_rate == pytest.approx(2 / 6)
    assert m.after_hours_share == pytest.approx(1 / 6)
    assert m.missed_offers == 2
    assert (m.handle_seconds, m.ended) == (120, 1)


def test_no_calls_means_no_ratios() -> None:
    m = hour_metrics([], 18)
    assert (m.offered, m.service_level, m.asa_seconds, m.abandonment_rate) == (0, None, None, None)


def test_weekly_forecast_averages_arrivals_over_the_weeks_and_uses_observed_handle_time() -> None:
    # Monday 09:00 local: 80 calls over 2 weeks = 40/h, handle 240 s -> 6 receptionists (domain.md).
    monday_nine = [ObservedCall(0, 9, 240.0) for _ in range(80)]
    tuesday_ten = [ObservedCall(1, 10, None) for _ in range(2)]  # no handle time seen: overall mean (240)
    rows = weekly_forecast(monday_nine + tuesday_ten, weeks=2)
    assert len(rows) == 168
    by_slot = {(r.weekday, r.hour): r for r in rows}
    assert by_slot[(0, 9)].arrivals_per_hour == 40
    assert by_slot[(0, 9)].staffing.agents == 6
    assert by_slot[(1, 10)].aht_seconds == 240
    assert by_slot[(1, 10)].staffing.agents == 1
    assert by_slot[(3, 3)].staffing.agents == 0
    with pytest.raises(ValueError):
        weekly_forecast([], weeks=0)


_instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(
    received=_instants,
    answered=_instants,
    ended=_instants,
    heard_call=_instants,
    heard_answer=st.timedeltas(min_value=timedelta(days=-1), max_value=timedelta(days=1)),
    heard_end=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1)),
)
def test_producers_clocks_never_make_a_wait_negative_or_absurd(
    received: datetime,
    answered: datetime,
    ended: datetime,
    heard_call: datetime,
    heard_answer: timedelta,
    heard_end: timedelta,
) -> None:
    # Any claims at all, heard in any order (an answer may overtake its call).
    arrived = arrived_at(received, heard_call)
    assert heard_call - LONGEST_TRANSIT <= arrived <= heard_call
    answer = happened_at(answered, heard_call + heard_answer, arrived)
    end = happened_at(ended, heard_call + heard_answer + heard_end, answer)
    assert arrived <= answer <= max(arrived, heard_call + heard_answer)
    assert answer <= end <= max(answer, heard_call + heard_answer + heard_end)
    # and a claim the router can vouch for is kept as it is
    if heard_call - LONGEST_TRANSIT <= received <= heard_call:
        assert arrived == received
    if arrived <= answered <= heard_call + heard_answer:
        assert answer == answered


def test_rows_stored_before_the_bounds_count_no_negative_wait_or_talk_time() -> None:
    t = datetime(2026, 1, 5, 9, tzinfo=UTC)
    ahead = CallRecord(t, answered_at=t - timedelta(hours=1), ended_at=t - timedelta(hours=2))
    m = hour_metrics([ahead, CallRecord(t, answered_at=t + timedelta(seconds=10))], 18)
    assert (m.asa_seconds, m.handle_seconds, m.answered_within_budget) == (5, 0, 2)
