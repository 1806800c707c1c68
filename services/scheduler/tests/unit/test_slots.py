"""Slot generation: properties across time zones and DST transitions, plus hand-checked cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.common.contracts import clock
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.scheduler import open_times
from frontdesk.scheduler.domain.slots import (
    WEEKDAY_NAMES,
    BusyTime,
    Interval,
    SlotRules,
    exists_locally,
    generate_slots,
    template_intervals,
    to_instant,
    unavailability,
)

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
# Days with a DST transition in one of the zones above (2026), so windows keep straddling them.
TRANSITION_DAYS = [
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
]
NY = ZoneInfo("America/New_York")
EVERY_ZONE = sorted(available_timezones())


def t(h: int, m: int = 0) -> time:
    return time(h, m)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, list[tuple[time, time]]]:
    out: dict[str, list[tuple[time, time]]] = {}
    for day in WEEKDAY_NAMES:
        # Up to two disjoint intervals a day, on a 30-minute wall-clock grid, some across 01:00-03:00,
        # some ending at 24:00 (the next day's 00:00).
        points = sorted(set(draw(st.lists(st.integers(0, 48), max_size=4))))
        pairs = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
        out[day] = [(t(a // 2, 30 * (a % 2)), t(b // 2 % 24, 30 * (b % 2))) for a, b in pairs]
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[SlotRules, Interval, list[Interval], datetime]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    rules = SlotRules(
        zone=zone,
        template=draw(templates()),
        duration=timedelta(minutes=draw(st.sampled_from([15, 20, 30, 45, 60, 90]))),
        step=timedelta(minutes=draw(st.sampled_from([5, 10, 15, 30]))),
        buffer_before=timedelta(minutes=draw(st.sampled_from([0, 0, 5, 15]))),
        buffer_after=timedelta(minutes=draw(st.sampled_from([0, 0, 10, 30]))),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 60, 24 * 60]))),
        closures=frozenset(draw(st.lists(st.sampled_from(TRANSITION_DAYS), max_size=1))),
    )
    anchor = datetime.combine(draw(st.sampled_from(TRANSITION_DAYS)), time(0), tzinfo=UTC)
    start = anchor + timedelta(minutes=15 * draw(st.integers(-4 * 48, 4 * 24)))
    window = Interval(start, start + timedelta(hours=draw(st.integers(1, 72))))
    now = start + timedelta(minutes=15 * draw(st.integers(-96, 96)))
    busy = []
    for _ in range(draw(st.integers(0, 6))):
        b = start + timedelta(minutes=5 * draw(st.integers(-100, 900)))
        busy.append(Interval(b, b + timedelta(minutes=draw(st.sampled_from([10, 30, 60, 240])))))
    return rules, window, busy, now


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_offered_slot_is_bookable(scenario: tuple[SlotRules, Interval, list[Interval], datetime]) -> None:
    rules, window, busy, now = scenario
    offered = generate_slots(rules, window, busy, now)
    assert offered == sorted(set(offered))
    occurrences = template_intervals(rules, window)
    for slot in offered:
        assert slot.end - slot.start == rules.duration  # elapsed time, whatever the clocks did
        assert window.contains(slot)
        assert slot.start >= now + rules.min_notice
        held = rules.blocked(slot)
        assert not any(held.overlaps(b) for b in busy), "a slot overlaps a booking, a block or a buffer"
        local = slot.start.astimezone(rules.zone)
        assert local.date() not in rules.closures
        assert exists_locally(local.replace(tzinfo=None), rules.zone)
        homes = [o for o in occurrences if o.span.contains(slot)]
        assert homes, "a slot outside the template"
        # On the wall-clock grid of its template interval, counted in local minutes.
        grid_minutes = int(rules.step.total_seconds() // 60)
        local_minutes = local.hour * 60 + local.minute
        assert any(
            local.date() == o.day and (local_minutes - (o.starts.hour * 60 + o.starts.minute)) % grid_minutes == 0
            for o in homes
        )


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_no_bookable_grid_time_is_left_out(scenario: tuple[SlotRules, Interval, list[Interval], datetime]) -> None:
    """An independent oracle: walk every UTC minute of the window; a minute that is a grid time of a
    template interval, exists locally, and passes every rule must be offered."""
    rules, window, busy, now = scenario
    offered = set(generate_slots(rules, window, busy, now))
    grid = int(rules.step.total_seconds() // 60)
    minute = window.start.replace(second=0, microsecond=0)
    while minute < window.end:
        local = minute.astimezone(rules.zone)
        wall = local.replace(tzinfo=None)
        candidate = Interval(minute, minute + rules.duration)
        first_occurrence = to_instant(wall, rules.zone) == minute
        on_grid = any(
            o.day == local.date()
            and o.span.contains(candidate)
            and ((wall.hour * 60 + wall.minute) - (o.starts.hour * 60 + o.starts.minute)) % grid == 0
            and datetime.combine(o.day, o.starts) <= wall
            for o in template_intervals(rules, Interval(minute, minute + timedelta(minutes=1)))
        )
        if (
            first_occurrence
            and on_grid
            and window.contains(candidate)
            and unavailability(rules, candidate, busy, now) is None
        ):
            assert candidate in offered, f"{candidate} is bookable but not offered"
        minute += timedelta(minutes=5)


intervals = st.builds(
    lambda start, minutes: Interval(
        datetime(2026, 3, 8, tzinfo=UTC) + timedelta(minutes=5 * start),
        datetime(2026, 3, 8, tzinfo=UTC) + timedelta(minutes=5 * start + minutes),
    ),
    st.integers(0, 200),
    st.sampled_from([5, 10, 15, 30, 60, 240]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(intervals, max_size=40), intervals)
def test_busy_time_overlaps_exactly_what_one_of_its_intervals_overlaps(busy: list[Interval], probe: Interval) -> None:
    # Merged and bisected (touching, nested and overlapping intervals included): the same answer as
    # checking every busy interval in turn.
    assert BusyTime(busy).overlaps(probe.start, probe.end) == any(probe.overlaps(b) for b in busy)


def test_back_to_back_slots_touch_a_booking_without_overlapping() -> None:
    rules = SlotRules(zone=NY, template={"mon": [(t(9), t(11))]}, duration=timedelta(minutes=30))
    day = Interval(datetime(2026, 11, 30, 0, tzinfo=NY), datetime(2026, 12, 1, 0, tzinfo=NY))
    booked = Interval(datetime(2026, 11, 30, 10, tzinfo=NY), datetime(2026, 11, 30, 10, 30, tzinfo=NY))
    starts = [s.start.astimezone(NY).strftime("%H:%M") for s in generate_slots(rules, day, [booked], day.start)]
    assert starts == ["09:00", "09:15", "09:30", "10:30"]  # 09:30-10:00 and 10:30-11:00 touch it


def test_buffers_keep_slots_away_from_a_booking() -> None:
    rules = SlotRules(
        zone=NY,
        template={"mon": [(t(9), t(12))]},
        duration=timedelta(minutes=30),
        buffer_before=timedelta(minutes=15),
        buffer_after=timedelta(minutes=15),
    )
    day = Interval(datetime(2026, 11, 30, 0, tzinfo=NY), datetime(2026, 12, 1, 0, tzinfo=NY))
    # An existing booking 10:30-11:00 with its own 15-minute buffers blocks 10:15-11:15.
    busy = [Interval(datetime(2026, 11, 30, 10, 15, tzinfo=NY), datetime(2026, 11, 30, 11, 15, tzinfo=NY))]
    starts = [s.start.astimezone(NY).strftime("%H:%M") for s in generate_slots(rules, day, busy, day.start)]
    assert starts == ["09:00", "09:15", "09:30", "11:30"]


def test_spring_forward_skips_the_missing_hour_and_keeps_elapsed_durations() -> None:
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT.
    rules = SlotRules(
        zone=NY, template={"sun": [(t(1), t(4))]}, duration=timedelta(minutes=60), step=timedelta(minutes=30)
    )
    day = Interval(datetime(2026, 3, 8, 0, tzinfo=UTC), datetime(2026, 3, 9, 12, tzinfo=UTC))
    slots = generate_slots(rules, day, [], day.start)
    walls = [s.start.astimezone(NY).strftime("%H:%M") for s in slots]
    # 01:00-04:00 local is only two elapsed hours that day: 01:00, 01:30 (ends 03:30 EDT), 03:00.
    assert walls == ["01:00", "01:30", "03:00"]
    assert all(s.end - s.start == timedelta(hours=1) for s in slots)


def test_fall_back_offers_each_wall_clock_time_once() -> None:
    # 2026-11-01 in New York: 02:00 EDT falls back to 01:00 EST; 01:00-01:59 happens twice.
    rules = SlotRules(
        zone=NY, template={"sun": [(t(0), t(3))]}, duration=timedelta(minutes=60), step=timedelta(minutes=60)
    )
    day = Interval(datetime(2026, 11, 1, 0, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC))
    slots = generate_slots(rules, day, [], day.start)
    walls = [s.start.astimezone(NY).strftime("%H:%M %Z") for s in slots]
    # The interval lasts four elapsed hours; the grid is wall-clock: 00:00, 01:00 (first), 02:00 EST.
    assert walls == ["00:00 EDT", "01:00 EDT", "02:00 EST"]


def test_minimum_notice_and_closures() -> None:
    rules = SlotRules(
        zone=NY,
        template={d: [(t(9), t(10))] for d in WEEKDAY_NAMES},
        duration=timedelta(minutes=30),
        step=timedelta(minutes=30),
        min_notice=timedelta(hours=24),
        closures=frozenset({date(2026, 12, 2)}),
    )
    now = datetime(2026, 11, 30, 9, 15, tzinfo=NY)
    window = Interval(now, now + timedelta(days=4))
    walls = [s.start.astimezone(NY).strftime("%m-%d %H:%M") for s in generate_slots(rules, window, [], now)]
    # 12-01 09:00 is 23h45 away (too soon); 12-02 is closed; 12-04 09:00-09:30 ends after the window.
    assert walls == ["12-01 09:30", "12-03 09:00", "12-03 09:30"]


def test_template_is_read_in_the_providers_zone() -> None:
    sydney = ZoneInfo("Australia/Sydney")
    rules = SlotRules(zone=sydney, template={"tue": [(t(9), t(10))]}, duration=timedelta(minutes=60))
    window = Interval(datetime(2026, 11, 30, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, tzinfo=UTC))
    [slot] = generate_slots(rules, window, [], window.start)
    # Tuesday 09:00 in Sydney (AEDT, +11) is Monday 22:00 UTC.
    assert slot.start == datetime(2026, 11, 30, 22, tzinfo=UTC)


def test_unavailability_explains_why() -> None:
    rules = SlotRules(
        zone=NY, template={"mon": [(t(9), t(12))]}, duration=timedelta(minutes=30), min_notice=timedelta(hours=1)
    )
    now = datetime(2026, 11, 30, 8, tzinfo=NY)
    ok = Interval(datetime(2026, 11, 30, 10, 7, tzinfo=NY), datetime(2026, 11, 30, 10, 37, tzinfo=NY))
    assert unavailability(rules, ok, [], now) is None  # explicit windows need not sit on the grid
    early = Interval(datetime(2026, 11, 30, 8, 30, tzinfo=NY), datetime(2026, 11, 30, 9, tzinfo=NY))
    assert unavailability(rules, early, [], now)[0] == "too_soon"  # type: ignore[index]
    late = Interval(datetime(2026, 11, 30, 11, 45, tzinfo=NY), datetime(2026, 11, 30, 12, 15, tzinfo=NY))
    assert unavailability(rules, late, [], now) == ("unavailable", "outside the provider's availability")
    assert unavailability(rules, late, [], now, check_template=False) is None
    assert unavailability(rules, ok, [ok], now)[0] == "slot_taken"  # type: ignore[index]


def test_a_template_opening_inside_the_spring_forward_gap_offers_nothing_before_it_opens() -> None:
    # 02:30 does not exist in New York on 2026-03-08; the interval opens at 02:30 EST = 03:30 EDT.
    rules = SlotRules(zone=NY, template={"sun": [(t(2, 30), t(4))]}, duration=timedelta(minutes=15))
    day = Interval(datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 8, 10, tzinfo=UTC))
    offered = generate_slots(rules, day, [], datetime(2026, 3, 1, tzinfo=UTC))
    assert [s.start.astimezone(NY).strftime("%H:%M") for s in offered] == ["03:30", "03:45"]
    assert all(unavailability(rules, s, [], datetime(2026, 3, 1, tzinfo=UTC)) is None for s in offered)


def grid_times_converted_one_by_one(rules: SlotRules, window: Interval, now: datetime) -> list[Interval]:
    """The slots as generate_slots found them before it skipped conversions: every grid time turned
    into an instant and back (kept or dropped by that round trip alone), nothing busy."""
    found: set[Interval] = set()
    for occurrence in template_intervals(rules, window):
        wall = datetime.combine(occurrence.day, occurrence.starts)
        ends_next_day = occurrence.ends <= occurrence.starts  # 24:00
        while wall < datetime.combine(occurrence.day + timedelta(days=int(ends_next_day)), occurrence.ends):
            if exists_locally(wall, rules.zone):
                start = to_instant(wall, rules.zone)
                candidate = Interval(start, start + rules.duration)
                if candidate.end > occurrence.span.end:
                    break
                if start >= occurrence.span.start and start >= now + rules.min_notice and window.contains(candidate):
                    found.add(candidate)
            wall += rules.step
    return sorted(found)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(EVERY_ZONE),
    st.dates(date(2026, 1, 1), date(2040, 12, 31)),
    templates(),
    st.sampled_from([5, 10, 15, 30]),
    st.sampled_from([15, 30, 60]),
)
def test_slots_are_the_grid_times_converted_one_by_one_in_every_zone(
    zone_name: str, day: date, template: dict[str, list[tuple[time, time]]], step: int, duration: int
) -> None:
    """Skipping the conversion inside an interval without a transition changes nothing, in any zone
    of the tz database (odd offsets, 30-minute DST, none) over the years slots are searched in."""
    rules = SlotRules(
        zone=ZoneInfo(zone_name), template=template, duration=timedelta(minutes=duration), step=timedelta(minutes=step)
    )
    start = datetime.combine(day, time(0), tzinfo=UTC)
    window = Interval(start, start + timedelta(days=8))
    now = start - timedelta(days=1)
    assert generate_slots(rules, window, [], now) == grid_times_converted_one_by_one(rules, window, now)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TRANSITION_DAYS), st.sampled_from(ZONES), templates(), st.sampled_from([5, 15, 30]))
def test_transition_days_match_the_one_by_one_conversion(
    day: date, zone_name: str, template: dict[str, list[tuple[time, time]]], step: int
) -> None:
    rules = SlotRules(
        zone=ZoneInfo(zone_name), template=template, duration=timedelta(minutes=30), step=timedelta(minutes=step)
    )
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=2)
    window = Interval(start, start + timedelta(days=4))
    now = start - timedelta(days=1)
    assert generate_slots(rules, window, [], now) == grid_times_converted_one_by_one(rules, window, now)


class _Bookings:
    """The database's side of repository.busy: the stored ranges overlapping the asked window."""

    def __init__(self, stored: list[Interval]) -> None:
        self.stored = stored

    async def fetch(self, _sql: str, _provider_id: str, start: datetime, end: datetime) -> list[dict[str, datetime]]:
        return [{"s": b.start, "e": b.end} for b in self.stored if b.start < end and start < b.end]


@settings(max_examples=200, deadline=None)
@given(scenarios())
async def test_free_slots_read_every_booking_that_can_touch_a_slot(
    scenario: tuple[SlotRules, Interval, list[Interval], datetime],
) -> None:
    """open_times.free_slots reads only the bookings near the window, and finds what all of them allow."""
    rules, window, busy, now = scenario
    bookings = cast(Connection, _Bookings(busy))
    found = await open_times.free_slots(bookings, Provider(provider_id="p"), rules, window, now)
    assert found == generate_slots(rules, window, busy, now)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Kiritimati"])
def test_a_template_until_midnight_offers_the_slot_that_ends_at_24_00(zone: str) -> None:
    """00:00-24:00 is the whole day: the last slot ends at the next day's 00:00 (00:00-23:59 lost it)."""
    rules = SlotRules(zone=ZoneInfo(zone), template={"mon": [(t(0), t(0))]}, duration=timedelta(minutes=30))
    monday = date(2026, 12, 7)
    day = Interval(
        to_instant(datetime.combine(monday, t(0)), rules.zone),
        to_instant(datetime.combine(monday, t(23, 59)), rules.zone) + timedelta(minutes=1),
    )
    slots = generate_slots(rules, day, [], day.start - timedelta(days=1))
    assert len(slots) == 24 * 4 - 1  # every quarter hour, the last at 23:30
    assert slots[-1].end == day.end
    assert [s.start.astimezone(rules.zone).strftime("%H:%M") for s in slots[-2:]] == ["23:15", "23:30"]


def test_the_clock_range_reads_and_writes_24_00() -> None:
    assert clock.parse_range("20:00-24:00", "range") == (t(20), t(0))
    assert clock.format_range(t(20), t(0)) == "20:00-24:00"
    assert clock.covers(t(0), t(0), time(23, 59, 59))
    with pytest.raises(ValueError, match="25:00"):
        clock.parse_range("08:00-25:00", "opening interval")
