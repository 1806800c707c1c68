"""The patient loops' report: the window in the clinic's zone, the refill rate and waiting times, who
handled reschedule requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.console.domain.patient_loops import FreedSlot, nearest_rank, report, span, window_start

NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_the_window_is_seven_local_days_from_midnight() -> None:
    # Chicago's clocks moved on Sunday 8 March 2026: the window's first midnight is still CST (-06:00).
    assert window_start(NOW, ZoneInfo("America/Chicago")) == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    # 20:30 UTC is already the 10th in Kathmandu (+05:45): the window starts at its midnight of the 4th.
    late = datetime(2026, 3, 9, 20, 30, tzinfo=UTC)
    assert window_start(late, ZoneInfo("Asia/Kathmandu")) == datetime(2026, 3, 3, 18, 15, tzinfo=UTC)
    assert window_start(NOW, ZoneInfo("UTC"), days=1) == datetime(2026, 3, 9, tzinfo=UTC)


def test_a_skipped_midnight_starts_the_day_at_the_jump() -> None:
    # Santiago skipped 00:00 on Sunday 6 September 2026 (clocks went to 01:00, -03:00).
    now = datetime(2026, 9, 6, 15, 0, tzinfo=UTC)
    start = window_start(now, ZoneInfo("America/Santiago"), days=1)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert start.astimezone(ZoneInfo("America/Santiago")).hour == 1


def test_rate_and_times_over_the_slots_first_offered_in_the_window() -> None:
    since = NOW - timedelta(days=7)
    minutes = [12, 3, 40, 7]
    slots = [
        FreedSlot(NOW - timedelta(hours=i + 1), NOW - timedelta(hours=i + 1) + timedelta(minutes=m))
        for i, m in enumerate(minutes)
    ]
    slots += [FreedSlot(NOW - timedelta(hours=9), None)]  # offered, nobody took it
    slots += [FreedSlot(since - timedelta(seconds=1), NOW)]  # first offered before the window: not counted
    figures = report(slots, {"patient": 2, "staff": 1}, since)
    assert (figures.slots_offered, figures.refilled, figures.refill_rate) == (5, 4, 0.8)
    assert figures.median_refill == timedelta(minutes=7)  # nearest rank: the 2nd of 3, 7, 12, 40
    assert figures.p90_refill == timedelta(minutes=40)
    assert figures.handled == {"patient": 2, "reminder_link": 0, "staff": 1} and figures.reschedules == 3


def test_nothing_offered_reads_not_applicable() -> None:
    figures = report([], {}, NOW)
    assert figures.refill_rate is None and figures.median_refill is None and span(figures.p90_refill) == "n/a"


@given(st.lists(st.integers(0, 10**6), min_size=1), st.floats(0.01, 1.0))
def test_nearest_rank_is_a_value_with_enough_values_at_or_below_it(seconds: list[int], q: float) -> None:
    values = sorted(timedelta(seconds=s) for s in seconds)
    value = nearest_rank(values, q)
    assert value in values
    assert sum(v <= value for v in values) >= q * len(values)  # at least the share asked for
    assert sum(v < value for v in values) < q * len(values)  # and it is the smallest such value


@given(
    st.lists(st.tuples(st.integers(-(10**6), 10**6), st.none() | st.integers(0, 10**7)), max_size=40),
    st.dictionaries(st.sampled_from(["patient", "reminder_link", "staff"]), st.integers(0, 50)),
)
def test_the_report_is_consistent(offers: list[tuple[int, int | None]], handled: dict[str, int]) -> None:
    slots = [
        FreedSlot(NOW + timedelta(seconds=o), None if r is None else NOW + timedelta(seconds=o + r)) for o, r in offers
    ]
    figures = report(slots, handled, NOW)  # type: ignore[arg-type]
    counted = [s for s in slots if s.first_offered_at >= NOW]
    assert figures.slots_offered == len(counted)
    assert figures.refilled == sum(s.refilled_at is not None for s in counted) <= figures.slots_offered
    assert figures.refill_rate is None or 0 <= figures.refill_rate <= 1
    if figures.refilled:
        assert figures.median_refill is not None and figures.p90_refill is not None
        assert timedelta(0) <= figures.median_refill <= figures.p90_refill
    assert figures.reschedules == sum(handled.values())


def test_spans_read_as_staff_say_them() -> None:
    assert [span(timedelta(seconds=s)) for s in (45, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "45 s",
        "12 min",
        "3 h 05 min",
        "2 d 4 h",
    ]
