"""Phone metrics per clinic and hour, exactly as domain.md section 1 defines them.

- SL(T) = answered within T / (offered - short abandons); T = the ring budget, measured from arrival;
  a short abandon hung up within 5 s.
- ASA = total wait of answered calls / answered calls.
- Abandonment = abandoned before answer / offered.
- Overflow rate = calls handed to a vendor / offered; after-hours share = calls arriving closed / offered.

Every instant these are measured between is set by a producer (the phone system, a vendor), whose
clock may run ahead, behind, or lie. The router stores each as `arrived_at` / `happened_at` bound it
(the producer's claim, within what the router itself vouches for), so no wait is negative or absurd.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

SHORT_ABANDON_SECONDS = 5.0
# No caller is still on the line this long before the router first hears of the call (the phone system
# publishes call.received as it rings): an older received_at is a clock running behind, or made up.
LONGEST_TRANSIT = timedelta(minutes=10)


def arrived_at(claimed: datetime, heard_at: datetime) -> datetime:
    """When a call counts as arrived, for its ring budget and every figure measured from it: the phone
    system's claim, which is more accurate than when the router heard of it (transit, a consumer
    catching up), but never after the router heard it (a clock running ahead would lend the call
    budget it does not have and make its waits short or negative), nor LONGEST_TRANSIT before."""
    return min(max(claimed, heard_at - LONGEST_TRANSIT), heard_at)


def happened_at(claimed: datetime, heard_at: datetime, after: datetime) -> datetime:
    """When a call's outcome (answer, abandon, end) counts as having happened: its producer's claim,
    never after the router heard it (the same bound as AgentStatusChanged.changed_by), and never before
    the step it follows (`after`: the call's arrival, its answer), so no wait or talk time is negative.
    An outcome that overtook its call was heard before it: the step it follows wins."""
    return max(min(claimed, heard_at), after)


@dataclass(frozen=True)
class CallRecord:
    received_at: datetime
    answered_at: datetime | None = None
    abandoned_at: datetime | None = None
    ended_at: datetime | None = None
    overflowed: bool = False
    after_hours: bool = False
    missed_offers: int = 0


@dataclass(frozen=True)
class HourMetrics:
    offered: int
    answered: int
    answered_within_budget: int
    short_abandons: int
    abandoned: int
    service_level: float | None
    asa_seconds: float | None
    abandonment_rate: float | None
    overflow_rate: float | None
    after_hours_share: float | None
    missed_offers: int
    handle_seconds: float  # total talk time of ended calls (for AHT and Erlang C)
    ended: int


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def hour_metrics(calls: Iterable[CallRecord], budget_seconds: float) -> HourMetrics:
    calls = list(calls)
    offered = len(calls)
    answered = [c for c in calls if c.answered_at is not None]
    # rows stored before the router bounded producers' timestamps may hold negative spans
    waits = [max((c.answered_at - c.received_at).total_seconds(), 0.0) for c in answered if c.answered_at]
    within = sum(1 for w in waits if w <= budget_seconds)
    abandoned = [c for c in calls if c.answered_at is None and c.abandoned_at is not None]
    short = sum(
        1
        for c in abandoned
        if c.abandoned_at is not None and (c.abandoned_at - c.received_at).total_seconds() <= SHORT_ABANDON_SECONDS
    )
    ended = [c for c in answered if c.ended_at is not None and c.answered_at is not None]
    handle = sum(max((c.ended_at - c.answered_at).total_seconds(), 0.0) for c in ended if c.ended_at and c.answered_at)
    return HourMetrics(
        offered=offered,
        answered=len(answered),
        answered_within_budget=within,
        short_abandons=short,
        abandoned=len(abandoned),
        service_level=_ratio(within, offered - short),
        asa_seconds=_ratio(sum(waits), len(answered)),
        abandonment_rate=_ratio(len(abandoned), offered),
        overflow_rate=_ratio(sum(1 for c in calls if c.overflowed), offered),
        after_hours_share=_ratio(sum(1 for c in calls if c.after_hours), offered),
        missed_offers=sum(c.missed_offers for c in calls),
        handle_seconds=handle,
        ended=len(ended),
    )
