"""The patient loops' report (no I/O): over the clinic's last days, how freed slots were refilled from
the waitlist and who handled the reschedule requests (docs/patient-loops.md).

- A freed slot is a provider's start offered to the waitlist (one batch or several: the same slot).
  It counts in the window when its first offer does; it is refilled when one of its offers was
  accepted and the console saw the appointment booked. The time to refill runs from the slot's first
  offer (the cancellation freed it then) to the acceptance.
- A reschedule request is handled by the patient (a "3" reply, moved on their page), from a
  reminder's link (moved on the same page), or by staff (the window closed: a staff task opened).
- The window is whole local days of the clinic's zone: today and the `days - 1` before it, from
  local midnight (a DST day is 23 or 25 hours; a skipped midnight starts at the jump).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .board import local_day

HandledBy = Literal["patient", "reminder_link", "staff"]
HANDLERS: tuple[HandledBy, ...] = ("patient", "reminder_link", "staff")
REPORT_DAYS = 7


@dataclass(frozen=True)
class FreedSlot:
    first_offered_at: datetime
    refilled_at: datetime | None  # the accepted offer's closing, once the appointment is seen booked


@dataclass(frozen=True)
class LoopReport:
    since: datetime  # local midnight, `days` local days ago (today included)
    days: int
    slots_offered: int
    refilled: int
    refill_rate: float | None  # None with no slot offered
    median_refill: timedelta | None  # None with no refill
    p90_refill: timedelta | None
    handled: dict[HandledBy, int]

    @property
    def reschedules(self) -> int:
        return sum(self.handled.values())


def window_start(now: datetime, zone: ZoneInfo, days: int = REPORT_DAYS) -> datetime:
    """The first instant of the clinic's local day `days - 1` days before today."""
    today, _, _ = local_day(now, zone)
    _, start, _ = local_day(_noon(today - timedelta(days=days - 1), zone), zone)
    return start


def _noon(day: date, zone: ZoneInfo) -> datetime:
    # Any instant inside the day names it: noon is never skipped nor repeated by a DST change.
    return datetime.combine(day, time(12), tzinfo=zone)


def nearest_rank(sorted_values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-quantile by nearest rank: a value that occurred (no interpolation), None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def report(
    slots: Iterable[FreedSlot], handled: Mapping[HandledBy, int], since: datetime, days: int = REPORT_DAYS
) -> LoopReport:
    """The figures over the slots first offered, and the requests handled, since `since`."""
    in_window = [s for s in slots if s.first_offered_at >= since]
    waits = sorted(
        max(timedelta(0), s.refilled_at - s.first_offered_at) for s in in_window if s.refilled_at is not None
    )
    counts: dict[HandledBy, int] = {who: handled.get(who, 0) for who in HANDLERS}
    return LoopReport(
        since=since,
        days=days,
        slots_offered=len(in_window),
        refilled=len(waits),
        refill_rate=len(waits) / len(in_window) if in_window else None,
        median_refill=nearest_rank(waits, 0.5),
        p90_refill=nearest_rank(waits, 0.9),
        handled=counts,
    )


def span(value: timedelta | None) -> str:
    """A waiting time as staff read it: 45 s, 12 min, 3 h 05 min, 2 d 4 h."""
    if value is None:
        return "n/a"
    whole = round(value.total_seconds())
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
