"""Wall-clock ranges of a weekday ("08:00-17:00"): a clinic's opening hours, a provider's availability.

A range ends after it starts, except that its end may be the midnight that ends the day, written
24:00 (or 00:00): 00:00-24:00 is the whole day. Hours past midnight are two ranges that meet without
a gap, 22:00-24:00 on one day and 00:00-06:00 on the next.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

MIDNIGHT = time(0)
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_END_OF_DAY = re.compile(r"^24:00(:00(\.0+)?)?$")


def parse_range(text: str, what: str) -> tuple[time, time]:
    """ "HH:MM-HH:MM" as (start, end); an end of 24:00 is MIDNIGHT."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"{what} {text!r} is not of the form HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if (h2, m2) == (24, 0):
        h2 = 0
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError as exc:  # 25:00, 08:60
        raise ValueError(f"{what} {text!r}: {exc}") from None


def format_range(start: time, end: time) -> str:
    """The range as parse_range reads it: an end at MIDNIGHT is 24:00."""
    return f"{start:%H:%M}-{'24:00' if end == MIDNIGHT else f'{end:%H:%M}'}"


def end_of_day(value: object) -> object:
    """For a range's end, before it is read as a time: "24:00" is MIDNIGHT."""
    return "00:00" if isinstance(value, str) and _END_OF_DAY.match(value.strip()) else value


def check_order(start: time, end: time, names: tuple[str, str]) -> None:
    if end <= start and end != MIDNIGHT:
        raise ValueError(
            f"{names[1]} ({end}) must be after {names[0]} ({start}); hours past midnight are two ranges,"
            " ...-24:00 and 00:00-... on the next day"
        )


def wall_bounds(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """The range on `day` as naive wall-clock datetimes; an end at MIDNIGHT is the next day's 00:00."""
    return datetime.combine(day, start), datetime.combine(day + timedelta(days=1) if end == MIDNIGHT else day, end)


def covers(start: time, end: time, at: time) -> bool:
    """Whether the wall-clock time `at` of the range's day is in [start, end)."""
    return start <= at and (at < end or end == MIDNIGHT)
