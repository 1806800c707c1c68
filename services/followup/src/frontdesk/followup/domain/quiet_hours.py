"""Quiet hours: when a recipient may be contacted, in the recipient's own local time.

Federal rule 8 AM - 9 PM (47 CFR 64.1200(c)(1)); some states are stricter; a clinic may be stricter
still. Rules combine by intersection, so adding a rule can only ever narrow the allowed window.
A message due in quiet hours waits for the next allowed minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DailyWindow:
    """Allowed local wall-clock times of one weekday: [start, end)."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")

    def contains(self, wall: time) -> bool:
        return self.start <= wall < self.end


@dataclass(frozen=True)
class QuietRule:
    """Allowed window per weekday (index 0 = Monday); None = no contact at all that day."""

    windows: tuple[DailyWindow | None, ...]

    def __post_init__(self) -> None:
        if len(self.windows) != 7:
            raise ValueError("a quiet-hours rule has one entry per weekday")

    @classmethod
    def uniform(cls, start: time, end: time) -> QuietRule:
        return cls(tuple(DailyWindow(start, end) for _ in range(7)))

    def intersect(self, other: QuietRule) -> QuietRule:
        out: list[DailyWindow | None] = []
        for mine, theirs in zip(self.windows, other.windows, strict=True):
            if mine is None or theirs is None:
                out.append(None)
                continue
            start, end = max(mine.start, theirs.start), min(mine.end, theirs.end)
            out.append(DailyWindow(start, end) if start < end else None)
        return QuietRule(tuple(out))

    def allows(self, at: datetime, zone: ZoneInfo) -> bool:
        local = at.astimezone(zone)
        window = self.windows[local.weekday()]
        return window is not None and window.contains(local.time().replace(tzinfo=None))


FEDERAL = QuietRule.uniform(time(8), time(21))
_UNTIL_8PM = QuietRule.uniform(time(8), time(20))
STATE_RULES: dict[str, QuietRule] = {
    "FL": _UNTIL_8PM,
    "OK": _UNTIL_8PM,
    "MD": _UNTIL_8PM,
    "MS": _UNTIL_8PM,
    "NJ": _UNTIL_8PM,
    "CT": QuietRule.uniform(time(9), time(20)),
    # Texas: 9 AM - 9 PM Monday to Saturday, noon - 9 PM on Sunday.
    "TX": QuietRule((*(DailyWindow(time(9), time(21)) for _ in range(6)), DailyWindow(time(12), time(21)))),
}


def rule_for(state: str | None = None, extra: Iterable[QuietRule] = ()) -> QuietRule:
    """The federal rule, narrowed by the state's rule (if any) and any further (clinic) rules."""
    rule = FEDERAL
    if state is not None and state in STATE_RULES:
        rule = rule.intersect(STATE_RULES[state])
    for more in extra:
        rule = rule.intersect(more)
    return rule


def first_instant_at_or_after_wall(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The earliest instant whose local wall-clock reading on `day` is `wall` or later.

    Normally `wall` on `day` itself (the first of the two, if the clocks fall back over it); if the
    clocks spring forward over it, the instant the gap ends."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)
    # `wall` does not exist that day: find the end of the gap, minute by minute from before it.
    probe = min(first.astimezone(UTC), naive.replace(tzinfo=zone, fold=1).astimezone(UTC))
    probe = probe.replace(second=0, microsecond=0)
    while probe.astimezone(zone).replace(tzinfo=None) < naive:
        probe += timedelta(minutes=1)
    # Step back to the exact transition if it is not on a whole minute.
    return probe


def next_allowed(at: datetime, zone: ZoneInfo, rule: QuietRule, horizon_days: int = 15) -> datetime:
    """`at` itself if the rule allows it, else the first instant after it that the rule allows.

    Raises ValueError if the rule allows nothing within `horizon_days`."""
    if at.tzinfo is None:
        raise ValueError("next_allowed needs an aware datetime")
    at = at.astimezone(UTC)
    if rule.allows(at, zone):
        return at
    first_day = at.astimezone(zone).date() - timedelta(days=1)
    for offset in range(horizon_days + 2):
        day = first_day + timedelta(days=offset)
        window = rule.windows[day.weekday()]
        if window is None:
            continue
        start = first_instant_at_or_after_wall(day, window.start, zone)
        if start > at and rule.allows(start, zone):
            return start
    raise ValueError("the quiet-hours rule allows no contact at all")
