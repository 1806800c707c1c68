"""Reputation per clinic and provider, by week: computed from reviews' own tables, served over HTTP
and published as `reputation.summary` (once per clinic and completed local week, by a durable timer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig, ReputationSummary
from frontdesk.common.db import Connection
from frontdesk.common.timer_payloads import ReputationWeeklyTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .adapters import repository
from .domain import reputation

WEEKLY_EVERY = timedelta(hours=1)  # checks hourly; each clinic's week ends at its own local midnight


async def compute(conn: Connection, clinic: ClinicConfig, week: str, at: datetime) -> ReputationSummary:
    start, end = reputation.week_bounds(week, clinic.zone)
    facts = await repository.week_facts(conn, clinic.clinic_id, start, end)
    return reputation.summary(clinic.clinic_id, week, facts, at)


async def publish(uow: UnitOfWork, clinic_id: str, week: str) -> ReputationSummary | None:
    clinic = await get_clinic(uow.conn, clinic_id)
    if clinic is None:
        return None
    summary = await compute(uow.conn, clinic, week, datetime.now(UTC))
    await uow.emit(summary)
    telemetry.SUMMARIES.labels(clinic_id).inc()
    return summary


async def on_weekly_reputation(timer: Timer[ReputationWeeklyTimer], uow: UnitOfWork) -> None:
    """For every clinic whose last local week is complete and not yet published: publish it."""
    at = datetime.now(UTC)
    for clinic_id in await repository.clinic_ids(uow.conn):
        clinic = await get_clinic(uow.conn, clinic_id)
        if clinic is None:
            continue
        week = reputation.previous_week(at, clinic.zone)
        if await repository.mark_published(uow.conn, clinic_id, week):
            await publish(uow, clinic_id, week)
    following = at + WEEKLY_EVERY
    await uow.set_timer(f"reputation-weekly:{int(following.timestamp())}", following, ReputationWeeklyTimer())
