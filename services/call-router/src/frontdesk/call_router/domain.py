"""Routing decisions: pure functions of a clinic's configuration, the call and the time.

Walking-skeleton rules (the call-router issue replaces them with pools, strategies and overflow):
open hours -> the clinic's front-desk pool; closed (nights, weekends, closures) -> the clinic's
24/7 answering service. Every decision names a live human target; there is no voicemail target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.clinic import WEEKDAYS


@dataclass(frozen=True)
class RouteDecision:
    target_kind: str
    target_id: str
    reason: str
    answer_by: datetime


def is_open(clinic: ClinicConfig, at: datetime) -> bool:
    """Whether the clinic is open at the instant `at`, judged in the clinic's own time zone."""
    local = at.astimezone(clinic.zone)
    if local.date() in clinic.closures:
        return False
    local_time = local.time().replace(tzinfo=None)
    return any(i.opens <= local_time < i.closes for i in clinic.hours.get(WEEKDAYS[local.weekday()], []))


def decide_route(clinic: ClinicConfig, received_at: datetime) -> RouteDecision:
    # Elapsed time, so add in UTC: arithmetic on a datetime in a ZoneInfo zone is wall-clock
    # arithmetic and is an hour off when the ring budget spans a DST change.
    answer_by = received_at.astimezone(UTC) + timedelta(seconds=clinic.phone.ring_budget_seconds)
    if is_open(clinic, received_at):
        return RouteDecision("pool", clinic.phone.front_desk_pool, "open_hours", answer_by)
    return RouteDecision("answering_service", clinic.phone.answering_service, "after_hours", answer_by)
