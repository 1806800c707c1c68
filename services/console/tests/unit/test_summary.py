"""The hour summaries the projector keeps: whatever order a call's facts arrive in, however they are
batched and however often an event is replayed, the hours hold the sums over the calls as they
stand; and a day's metrics from its hours are the metrics of its calls."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.console.domain.board import NO_CALLS, Call, CallCounts, day_metrics, metrics_of
from frontdesk.console.domain.summary import HourKey, hour_counts, share_changes

BUDGET = 18.0
# a fall-back night in Chicago (a repeated hour), and two odd offsets
ZONES = [ZoneInfo("America/Chicago"), ZoneInfo("Pacific/Chatham"), ZoneInfo("Asia/Kathmandu")]
T0 = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)
FACTS = ("received_at", "answered_at", "abandoned_at", "overflowed_at", "ended_at")

Fact = tuple[int, str, float]  # call number, column, seconds after T0

facts = st.tuples(st.integers(0, 5), st.sampled_from(FACTS), st.floats(0, 4 * 3600, allow_nan=False))


def apply(call: Call | None, call_id: str, column: str, seconds: float) -> Call:
    """As the repository writes a fact: the first value stays (the earliest hand-over for overflows)."""
    call = call or Call(call_id, None)
    value, old = T0 + timedelta(seconds=seconds), getattr(call, column)
    if old is None or (column == "overflowed_at" and value < old):
        return dataclasses.replace(call, **{column: value})
    return call


@settings(max_examples=300, deadline=None)
@given(
    st.lists(facts, max_size=40),
    st.lists(st.integers(1, 8), min_size=1),
    st.sampled_from(ZONES),
)
def test_the_hours_are_the_sums_over_the_calls_whatever_the_order_batches_and_replays(
    arrivals: list[Fact], cuts: list[int], zone: ZoneInfo
) -> None:
    stream = arrivals + arrivals[::3]  # some events again, later
    calls: dict[str, Call] = {}
    hours: dict[HourKey, CallCounts] = defaultdict(CallCounts)
    position, n = 0, 0
    while position < len(stream):
        batch = stream[position : position + cuts[n % len(cuts)]]
        position, n = position + len(batch), n + 1
        touched = sorted({f"c{number}" for number, _, _ in batch})
        before = {c: calls.get(c) for c in touched}
        for number, column, seconds in batch:
            calls[f"c{number}"] = apply(calls.get(f"c{number}"), f"c{number}", column, seconds)
        for hour, change in share_changes([(before[c], calls[c]) for c in touched], zone, BUDGET).items():
            hours[hour] += change
    expected = {(h.local_date, h.local_hour): h.counts for h in hour_counts(calls.values(), zone, BUDGET)}
    assert {k: v for k, v in hours.items() if v != NO_CALLS} == expected
    assert metrics_of(sum(expected.values(), NO_CALLS)) == day_metrics(calls.values(), BUDGET)


def test_a_repeated_dst_hour_is_one_wall_clock_hour() -> None:
    chicago = ZONES[0]
    first, second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 01:30 twice
    hours = hour_counts([Call("a", first), Call("b", second)], chicago, BUDGET)
    assert [(h.local_date.isoformat(), h.local_hour, h.counts.offered) for h in hours] == [("2026-11-01", 1, 2)]


def test_waits_are_summed_in_whole_milliseconds() -> None:
    received = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    call = Call("a", received, answered_at=received + timedelta(seconds=12, microseconds=345_678))
    (hour,) = hour_counts([call], ZoneInfo("UTC"), BUDGET)
    assert hour.counts == CallCounts(offered=1, answered=1, answered_within_budget=1, wait_ms=12_345)
