"""What a clinic's calls add up to per local hour, kept as the calls' facts arrive (no I/O).

A call adds its share (board.call_counts) to the hour it arrived in, in the clinic's own zone. Its
facts arrive one event at a time, in any order, so its share changes as they do: the projector adds
the difference between its share after a batch of events and before it (`share_changes`). Facts
only ever fill in, so an event applied twice changes no share, and the hours always hold the sums
over the calls as they stand (`hour_counts`), whatever order the events came in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from .board import NO_CALLS, Call, CallCounts, call_counts, hour_of

HourKey = tuple[date, int]  # the clinic's local date and wall-clock hour


@dataclass(frozen=True)
class HourCounts:
    """What a clinic's calls of one local wall-clock hour add up to (a console_call_hours row)."""

    local_date: date
    local_hour: int
    counts: CallCounts


def hour_counts(calls: Iterable[Call], zone: ZoneInfo, budget_seconds: float) -> list[HourCounts]:
    """The calls summed per local date and hour."""
    sums: dict[HourKey, CallCounts] = defaultdict(CallCounts)
    for call in calls:
        hour = hour_of(call, zone)
        if hour is not None:
            sums[hour] += call_counts(call, budget_seconds)
    return [HourCounts(day, hour, counts) for (day, hour), counts in sorted(sums.items())]


def share_changes(
    changed: Iterable[tuple[Call | None, Call]], zone: ZoneInfo, budget_seconds: float
) -> dict[HourKey, CallCounts]:
    """What to add to each hour for calls that went from `before` (None: not known) to `after`."""
    sums: dict[HourKey, CallCounts] = defaultdict(CallCounts)
    for before, after in changed:
        if before is not None and (hour := hour_of(before, zone)) is not None:
            sums[hour] -= call_counts(before, budget_seconds)
        if (hour := hour_of(after, zone)) is not None:
            sums[hour] += call_counts(after, budget_seconds)
    return {hour: change for hour, change in sums.items() if change != NO_CALLS}
