"""A patient who replied "3" gets a link to the scheduler's reschedule page: appointment.reschedule_requested
-> a message (consent, quiet hours and caps as for every message) that expires with the request's window."""

from __future__ import annotations

from frontdesk.common import patient_links
from frontdesk.common.clinics import require_clinic
from frontdesk.common.contracts import RescheduleRequested
from frontdesk.common.uow import UnitOfWork

from . import sending
from .domain.templates import appointment_when

TEMPLATE = "reschedule-link"


async def handle_reschedule_requested(event: RescheduleRequested, uow: UnitOfWork) -> None:
    clinic = await require_clinic(uow.conn, event.clinic_id)  # not projected yet: waits for it
    links = patient_links.current("followup")
    token = patient_links.sign("reschedule", event.reschedule_id, event.expires_at, links.keys()[0])
    await sending.request(
        uow,
        message_request_id=f"reschedule:{event.reschedule_id}",
        requested_by=sending.SELF,
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        purpose="treatment",
        template=TEMPLATE,
        variables={
            **appointment_when(event.starts_at, clinic, event.provider_id),
            "reschedule_link": links.url("reschedule", token),
        },
        expires_at=event.expires_at,
    )
