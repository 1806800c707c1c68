"""Slot math, pure: which windows a provider can be booked for, correct across DST.

Wall-clock rules (a weekly template "mon 08:00-12:00") live in the provider's zone; durations,
buffers, notice and overlap are elapsed time, computed on aware instants. Ranges are half-open
[start, end), so back-to-back windows touch without overlapping.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import clock

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open range of aware instants [start, end)."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class TemplateInterval:
    """One occurrence of a weekly template interval: its local date and wall-clock bounds, resolved."""

    day: date
    starts: time
    ends: time
    opens: datetime  # naive wall clock; `ends` 24:00 closes at the next day's 00:00
    closes: datetime
    span: Interval


@dataclass(frozen=True)
class SlotRules:
    """Everything slot generation needs about one provider and one appointment type."""

    zone: ZoneInfo
    template: Mapping[str, Sequence[tuple[time, time]]]  # weekday name -> [(starts, ends)] wall clock
    duration: timedelta
    step: timedelta = timedelta(minutes=15)
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    min_notice: timedelta = timedelta(0)
    closures: frozenset[date] = field(default_factory=frozenset)  # whole local days off

    def blocked(self, window: Interval) -> Interval:
        """The time an appointment holds on the calendar: itself plus its buffers."""
        return Interval(window.start - self.buffer_before, window.end + self.buffer_after)


def exists_locally(wall: datetime, zone: ZoneInfo) -> bool:
    """False for a wall-clock time that a spring-forward transition skips (e.g. 02:30 in New York)."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time as an instant. Ambiguous times take their first occurrence (fold=0);
    skipped ones are read with the offset before the transition (so they land just after it)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def template_intervals(rules: SlotRules, window: Interval) -> list[TemplateInterval]:
    """The template's intervals that touch `window`, as instants, skipping closure days."""
    first = window.start.astimezone(rules.zone).date() - timedelta(days=1)
    last = window.end.astimezone(rules.zone).date() + timedelta(days=1)
    out: list[TemplateInterval] = []
    day = first
    while day <= last:
        if day not in rules.closures:
            for starts, ends in rules.template.get(WEEKDAY_NAMES[day.weekday()], ()):
                opens, closes = clock.wall_bounds(day, starts, ends)  # ends 24:00: the next day's 00:00
                span = Interval(to_instant(opens, rules.zone), to_instant(closes, rules.zone))
                if span.end > span.start and span.overlaps(window):
                    out.append(TemplateInterval(day, starts, ends, opens, closes, span))
        day += timedelta(days=1)
    return out


class BusyTime:
    """Busy intervals merged into disjoint ones in time order, so that a slot is checked against them
    by bisection rather than one by one (a month of a provider's calendar: hundreds of slots, each
    against hundreds of bookings). Half-open ranges that touch merge too: their union is the same set."""

    def __init__(self, busy: Iterable[Interval]) -> None:
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        for interval in sorted(busy):
            if self.ends and interval.start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], interval.end)
            else:
                self.starts.append(interval.start)
                self.ends.append(interval.end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) overlaps anything busy."""
        i = bisect_right(self.ends, start)  # the first busy interval that ends after it starts
        return i < len(self.starts) and self.starts[i] < end


def _instant_if_exists(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """`to_instant(wall)`, or None where `exists_locally(wall)` is false, with one conversion less."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def _without_transition(occurrence: TemplateInterval, zone: ZoneInfo) -> bool:
    """True when the zone's offset does not change inside the interval: both ends exist and as much
    time elapses as the wall clock shows. Then each grid time is the opening instant plus the wall time
    since, with no conversion per grid time (a month's slot search did two per grid time). A transition
    inside moves the elapsed time off the wall clock's; no zone has two that cancel within one day."""
    span, opens, closes = occurrence.span, occurrence.opens, occurrence.closes
    return span.end - span.start == closes - opens and exists_locally(opens, zone) and exists_locally(closes, zone)


def generate_slots(
    rules: SlotRules,
    window: Interval,
    busy: Iterable[Interval],
    now: datetime,
    limit: int | None = None,
) -> list[Interval]:
    """Bookable windows inside `window`, in time order.

    A slot starts on the template's wall-clock grid (interval start + k * step, local time; skipped
    times do not exist and are not offered), lasts `duration` of elapsed time, ends inside its template
    interval, starts at least `min_notice` after `now`, and its buffered range overlaps nothing busy
    (bookings' buffered ranges, blocks, exceptions)."""
    taken = BusyTime(busy)
    earliest = max(now + rules.min_notice, window.start)
    # The buffered range is SlotRules.blocked's, computed inline: no Interval per grid time.
    duration, before, after = rules.duration, rules.buffer_before, rules.buffer_after
    # (start, end) pairs rather than Intervals: a month's search tries thousands of grid times, and
    # tuples hash and sort in C (template intervals that overlap offer the same slot twice).
    found: set[tuple[datetime, datetime]] = set()
    for occurrence in template_intervals(rules, window):
        opens = wall = occurrence.opens
        closes = occurrence.closes
        steady = _without_transition(occurrence, rules.zone)
        # A template opening inside a spring-forward gap opens after it: no slot before its span.
        first, last = max(earliest, occurrence.span.start), min(window.end, occurrence.span.end)
        while wall < closes:
            start = occurrence.span.start + (wall - opens) if steady else _instant_if_exists(wall, rules.zone)
            if start is not None:
                end = start + duration
                if end > occurrence.span.end:
                    break
                if start >= first and end <= last and not taken.overlaps(start - before, end + after):
                    found.add((start, end))
            wall += rules.step
    slots = sorted(found)[:limit]
    return [Interval(start, end) for start, end in slots]


def unavailability(
    rules: SlotRules, candidate: Interval, busy: Iterable[Interval], now: datetime, *, check_template: bool = True
) -> tuple[str, str] | None:
    """Why an explicit window cannot be booked, as (reason, detail), or None if it can.

    Explicit windows (vendors, trusted callers) need not sit on the grid, but must fit a template
    interval (unless the provider has none), respect the notice and avoid busy time."""
    if candidate.start < now + rules.min_notice:
        return "too_soon", f"needs at least {int(rules.min_notice.total_seconds() // 60)} minutes notice"
    if check_template:
        local_day = candidate.start.astimezone(rules.zone).date()
        if local_day in rules.closures:
            return "unavailable", "the clinic is closed that day"
        if not any(t.span.contains(candidate) for t in template_intervals(rules, candidate)):
            return "unavailable", "outside the provider's availability"
    for b in busy:
        if rules.blocked(candidate).overlaps(b):
            return "slot_taken", f"overlaps the busy window {b.start.isoformat()}/{b.end.isoformat()}"
    return None
