"""Event handlers: thin glue between events, the domain and the database."""

from __future__ import annotations

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import AppointmentBooked, AppointmentRejected, AppointmentRequested
from frontdesk.common.uow import UnitOfWork

from . import domain
from .adapters import repository


async def handle_appointment_requested(event: AppointmentRequested, uow: UnitOfWork) -> None:
    if await repository.request_seen(uow.conn, event.request_id):
        return  # idempotency key: this request already has its answer
    problem = domain.validation_problem(await get_clinic(uow.conn, event.clinic_id), event)
    outcome = problem or await repository.try_book(uow.conn, domain.appointment_id_for(event.request_id), event)
    await repository.remember_request(uow.conn, event.request_id, "rejected" if outcome else "booked")
    if outcome is None:
        await uow.emit(
            AppointmentBooked(
                appointment_id=domain.appointment_id_for(event.request_id),
                request_id=event.request_id,
                patient_id=event.patient_id,
                clinic_id=event.clinic_id,
                provider_id=event.provider_id,
                appointment_type=event.appointment_type,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
            )
        )
    else:
        reason, detail = outcome
        await uow.emit(
            AppointmentRejected(
                request_id=event.request_id,
                patient_id=event.patient_id,
                clinic_id=event.clinic_id,
                provider_id=event.provider_id,
                reason=reason,
                detail=detail,
            )
        )
