"""Reputation figures: response rate, average rating, NPS, escalations closed in time. Pure.

Figures are by cohort: a request belongs to the ISO week (of the clinic's local calendar) in which
it was sent; its answer and its recovery task count for that same week, whenever they happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import (
    ProviderReputation,
    RatingScale,
    ReputationFigures,
    ReputationSummary,
)


@dataclass(frozen=True)
class RequestFact:
    """One sent request of the week, with what came of it."""

    provider_id: str
    scale: RatingScale | None = None  # None: no answer
    score: int | None = None
    escalated: bool = False
    deadline: datetime | None = None  # the first recovery deadline
    closed_at: datetime | None = None


def nps(scores: Iterable[int]) -> float | None:
    """Net Promoter Score in %: promoters (9-10) minus detractors (0-6), over all answers."""
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return round(100 * (promoters - detractors) / len(values), 2)


def average(scores: Iterable[int]) -> float | None:
    values = list(scores)
    return round(sum(values) / len(values), 3) if values else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(facts: Sequence[RequestFact], now: datetime) -> ReputationFigures:
    answered = [f for f in facts if f.score is not None]
    escalated = [f for f in facts if f.escalated]
    # Only tasks that are closed or past their deadline can be judged; an open task still in time is neither.
    judged = [f for f in escalated if f.closed_at is not None or (f.deadline is not None and f.deadline <= now)]
    in_time = [f for f in judged if f.closed_at is not None and f.deadline is not None and f.closed_at <= f.deadline]
    return ReputationFigures(
        requests_sent=len(facts),
        responses=len(answered),
        response_rate=ratio(len(answered), len(facts)),
        average_rating=average(f.score for f in answered if f.scale == "stars" and f.score is not None),
        nps=nps(f.score for f in answered if f.scale == "nps" and f.score is not None),
        escalations=len(escalated),
        closed_within_deadline_share=ratio(len(in_time), len(judged)),
    )


def summary(clinic_id: str, week: str, facts: Sequence[RequestFact], now: datetime) -> ReputationSummary:
    by_provider: dict[str, list[RequestFact]] = {}
    for fact in facts:
        by_provider.setdefault(fact.provider_id, []).append(fact)
    return ReputationSummary(
        clinic_id=clinic_id,
        week=week,
        clinic=figures(facts, now),
        providers=[
            ProviderReputation(provider_id=p, **figures(fs, now).model_dump()) for p, fs in sorted(by_provider.items())
        ],
        computed_at=now,
    )


# --- weeks ------------------------------------------------------------------------------------


def week_of(instant: datetime, zone: ZoneInfo) -> str:
    year, week, _ = instant.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(week: str) -> date:
    """The Monday of an ISO week written 2026-W48; ValueError if it is not one."""
    try:
        year_text, week_text = week.split("-W")
        return date.fromisocalendar(int(year_text), int(week_text), 1)
    except ValueError as exc:
        raise ValueError(f"{week!r} is not an ISO week like 2026-W48") from exc


def week_bounds(week: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) local time, as UTC instants (a DST week is 167 or 169 h)."""
    monday = parse_week(week)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_week(instant: datetime, zone: ZoneInfo) -> str:
    """The last complete local week before `instant`."""
    return week_of(instant.astimezone(zone) - timedelta(days=7), zone)
