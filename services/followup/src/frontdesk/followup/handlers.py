"""Event handlers: thin glue between events, the domain and the database."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import FollowupScheduled, VisitCompleted
from frontdesk.common.uow import UnitOfWork

from . import domain
from .adapters import repository


async def handle_visit_completed(event: VisitCompleted, uow: UnitOfWork) -> None:
    clinic = await get_clinic(uow.conn, event.clinic_id)
    zone = clinic.zone if clinic else ZoneInfo("UTC")
    due_at = domain.next_day_check_in(event.completed_at, zone)
    followup_id = await repository.plan(uow.conn, event, "check_in", due_at)
    if followup_id is None:
        return  # this visit already has its check-in
    await uow.emit(
        FollowupScheduled(
            followup_id=followup_id,
            patient_id=event.patient_id,
            clinic_id=event.clinic_id,
            kind="check_in",
            due_at=due_at,
            visit_id=event.visit_id,
        )
    )
