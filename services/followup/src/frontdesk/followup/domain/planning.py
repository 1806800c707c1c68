"""When each follow-up is due, from the clinic's messaging rules (local wall-clock in the clinic's zone)."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import clock

from .quiet_hours import first_instant_at_or_after_wall

CHECK_IN_LOCAL_TIME = time(10, 0)
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_day_check_in(completed_at: datetime, zone: ZoneInfo, at: time = CHECK_IN_LOCAL_TIME) -> datetime:
    """The check-in goes out the day after the visit at `at`, in the clinic's local time.

    Built from the local calendar date, so a DST change overnight still lands on 10:00 local; a time
    the clocks skip that day is the end of the gap, as for the recall.
    """
    next_day = completed_at.astimezone(zone).date() + timedelta(days=1)
    return first_instant_at_or_after_wall(next_day, at, zone).astimezone(zone)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def recall_due(completed_at: datetime, zone: ZoneInfo, months: int, at: time = CHECK_IN_LOCAL_TIME) -> datetime:
    """`months` after the visit's local date (clamped to the month's end), at `at` local."""
    day = add_months(completed_at.astimezone(zone).date(), months)
    return first_instant_at_or_after_wall(day, at, zone)


def no_show_due(starts_at: datetime, now: datetime, zone: ZoneInfo, evening: time) -> datetime:
    """The same evening as the missed appointment (local), or now if that evening has begun."""
    evening_at = first_instant_at_or_after_wall(starts_at.astimezone(zone).date(), evening, zone)
    return max(evening_at, now.astimezone(UTC))


def next_opening(
    at: datetime,
    zone: ZoneInfo,
    hours: Mapping[str, Sequence[tuple[time, time]]],
    closures: Sequence[date] = (),
    horizon_days: int = 21,
) -> datetime | None:
    """`at` if the clinic is open then, else the start of its next opening interval; None if it has
    no opening within the horizon (a clinic without hours)."""
    at = at.astimezone(UTC)
    local = at.astimezone(zone)
    closed = set(closures)
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        if day in closed:
            continue
        for opens, closes in sorted(hours.get(WEEKDAY_NAMES[day.weekday()], ())):
            closes_day = clock.wall_bounds(day, opens, closes)[1].date()  # closes 24:00: the next day
            start = first_instant_at_or_after_wall(day, opens, zone)
            end = first_instant_at_or_after_wall(closes_day, closes, zone)
            if start <= at < end:
                return at
            if start > at:
                return start
    return None
