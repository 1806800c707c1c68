"""What the Now and Network screens show, computed from the read model's rows (no I/O).

- A call's state follows from the facts known about it, whatever order they arrived in: ended or
  abandoned (done), answered (talking), handed to a vendor, ringing someone, or waiting.
- The day is the clinic's own local day (its zone, DST included), from local midnight to midnight.
- SL(T) = answered within T / (offered - short abandons), T = the ring budget, from arrival; ASA =
  total wait of answered calls / answered; abandonment = abandoned before answer / offered;
  overflow = calls handed to a vendor / offered (domain.md, "Metrics"). Each is a ratio of sums of
  what each call adds (call_counts), so a period's metrics come from its hours' counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

SHORT_ABANDON_SECONDS = 5.0
# The network's target (domain.md: "90% within 3 rings"); a clinic below it is flagged.
SERVICE_LEVEL_TARGET = 0.9

CallState = Literal["waiting", "ringing", "with_vendor", "answered", "abandoned", "ended"]


@dataclass(frozen=True)
class Call:
    call_id: str
    received_at: datetime | None
    offered_at: datetime | None = None
    offered_kind: str | None = None
    offered_to: str | None = None
    vendor_id: str | None = None
    overflowed_at: datetime | None = None
    vendor_answer_by: datetime | None = None
    answered_at: datetime | None = None
    answered_by_kind: str | None = None
    answered_by_id: str | None = None
    abandoned_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def state(self) -> CallState:
        if self.answered_at is not None:
            return "ended" if self.ended_at is not None else "answered"
        if self.abandoned_at is not None:
            return "abandoned"
        if self.ended_at is not None:
            return "ended"
        if self.overflowed_at is not None:
            return "with_vendor"
        return "ringing" if self.offered_at is not None else "waiting"

    def waited_seconds(self, now: datetime) -> float | None:
        if self.received_at is None:
            return None
        until = self.answered_at or self.abandoned_at or now
        return max(0.0, (until - self.received_at).total_seconds())

    def vendor_answered(self) -> bool:
        return self.answered_at is not None and self.answered_by_kind == "answering_service"

    def vendor_overdue(self, now: datetime) -> bool:
        """Handed to a vendor whose answer is not reported by the time it was due."""
        return self.state == "with_vendor" and self.vendor_answer_by is not None and now > self.vendor_answer_by


@dataclass(frozen=True)
class DayMetrics:
    offered: int
    answered: int
    answered_within_budget: int
    short_abandons: int
    abandoned: int
    overflowed: int
    service_level: float | None
    asa_seconds: float | None
    abandonment_rate: float | None
    overflow_rate: float | None

    @property
    def below_target(self) -> bool:
        return self.service_level is not None and self.service_level < SERVICE_LEVEL_TARGET


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class CallCounts:
    """What calls add up to: sums only, so a day's counts are the sum of its hours' (the read model
    keeps them per clinic and local hour, console_call_hours). Waits are whole milliseconds: integer
    sums come out the same in any order, so a rebuilt summary equals the live one."""

    offered: int = 0
    answered: int = 0
    answered_within_budget: int = 0
    wait_ms: int = 0  # total wait of the answered calls
    short_abandons: int = 0
    abandoned: int = 0
    overflowed: int = 0

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in COUNT_COLUMNS)

    def __add__(self, other: CallCounts) -> CallCounts:
        return CallCounts(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def __sub__(self, other: CallCounts) -> CallCounts:
        return CallCounts(*(a - b for a, b in zip(self.values(), other.values(), strict=True)))


COUNT_COLUMNS = tuple(f.name for f in fields(CallCounts))
NO_CALLS = CallCounts()


def call_counts(call: Call, budget_seconds: float) -> CallCounts:
    """One call's share of the counts of the hour it arrived in; nothing until its arrival is known."""
    if call.received_at is None:
        return NO_CALLS
    answered = call.answered_at is not None
    # The instants are the producers' (the events'), so that a rebuild sums to what the live projector
    # did; an answer stamped before the arrival (clocks apart) waited no time, never a negative one.
    wait = max(call.answered_at - call.received_at, timedelta(0)) if call.answered_at is not None else timedelta(0)
    abandoned = not answered and call.abandoned_at is not None
    short = (
        call.abandoned_at is not None
        and abandoned
        and (call.abandoned_at - call.received_at).total_seconds() <= SHORT_ABANDON_SECONDS
    )
    return CallCounts(
        offered=1,
        answered=int(answered),
        answered_within_budget=int(answered and wait.total_seconds() <= budget_seconds),
        wait_ms=wait // timedelta(milliseconds=1),
        short_abandons=int(short),
        abandoned=int(abandoned),
        overflowed=int(call.overflowed_at is not None),
    )


def hour_of(call: Call, zone: ZoneInfo) -> tuple[date, int] | None:
    """The clinic's local date and wall-clock hour of the call's arrival (a repeated DST hour is one
    wall-clock hour: both of its instants fall into it)."""
    if call.received_at is None:
        return None
    local = call.received_at.astimezone(zone)
    return local.date(), local.hour


def service_level_of(c: CallCounts) -> float | None:
    """SL(T) = answered within T / (offered - short abandons)."""
    return _ratio(c.answered_within_budget, c.offered - c.short_abandons)


def metrics_of(counts: CallCounts) -> DayMetrics:
    c = counts
    return DayMetrics(
        offered=c.offered,
        answered=c.answered,
        answered_within_budget=c.answered_within_budget,
        short_abandons=c.short_abandons,
        abandoned=c.abandoned,
        overflowed=c.overflowed,
        service_level=service_level_of(c),
        asa_seconds=_ratio(c.wait_ms / 1000, c.answered),
        abandonment_rate=_ratio(c.abandoned, c.offered),
        overflow_rate=_ratio(c.overflowed, c.offered),
    )


def day_metrics(calls: Iterable[Call], budget_seconds: float) -> DayMetrics:
    """The metrics of the calls that arrived in one period (those whose arrival is known)."""
    return metrics_of(sum((call_counts(c, budget_seconds) for c in calls), NO_CALLS))


def local_day(now: datetime, zone: ZoneInfo) -> tuple[date, datetime, datetime]:
    """The clinic's current local date and its bounds as aware instants: [midnight, next midnight).
    A DST day is 23 or 25 hours long; a zone whose midnight is skipped starts at the first instant."""
    today = now.astimezone(zone).date()
    return today, _start_of(today, zone), _start_of(today + timedelta(days=1), zone)


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    # A skipped midnight (a DST jump at 00:00) resolves, with fold=0, to the offset before the jump:
    # that instant is the first one of the local day (e.g. 01:00 in America/Santiago).
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
