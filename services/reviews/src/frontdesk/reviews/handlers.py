"""Event handlers: thin glue between events, the domain and the database."""

from __future__ import annotations

from frontdesk.common.contracts import ReviewRequested, VisitCompleted
from frontdesk.common.uow import UnitOfWork

from . import domain
from .adapters import repository


async def handle_visit_completed(event: VisitCompleted, uow: UnitOfWork) -> None:
    request_id = domain.review_request_id(event.visit_id)
    send_at = domain.send_time(event.completed_at)
    if not await repository.record_request(uow.conn, request_id, event, send_at):
        return  # this visit already has its review request
    await uow.emit(
        ReviewRequested(
            review_request_id=request_id,
            visit_id=event.visit_id,
            patient_id=event.patient_id,
            clinic_id=event.clinic_id,
            provider_id=event.provider_id,
            send_at=send_at,
        )
    )
