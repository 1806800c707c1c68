"""What a vendor asks for on a caller's behalf: an appointment.

A vendor writes only on its own topic `vendor.<id>.events` (never on a shared topic), so the topic
says who asks. The router checks the request is that vendor's business (it names itself, and the
clinic names the vendor in its phone configuration) and passes it on as `appointment.requested`, its
request id prefixed with the vendor's id so that no vendor can take another producer's key. A refused
request is dead-lettered with its reason, logged and counted (isolation.py): never acted on silently.
A callback is asked for with `answering.message_taken` (`callback_needed`), checked the same way.
"""

from __future__ import annotations

import hashlib

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import AppointmentRequested, VendorAppointmentRequested
from frontdesk.common.uow import UnitOfWork

from . import isolation
from .domain.vendor_isolation import names_itself, serves_clinic


def vendor_request_id(vendor_id: str, request_id: str) -> str:
    """The vendor's key in the vendor's own namespace (hashed when that would exceed an Id's 128)."""
    candidate = f"vendor:{vendor_id}:{request_id}"
    if len(candidate) <= 128:
        return candidate
    return f"vendor:{vendor_id[:40]}:h-" + hashlib.sha256(candidate.encode()).hexdigest()[:40]


async def handle_appointment_requested(event: VendorAppointmentRequested, uow: UnitOfWork) -> None:
    sender = isolation.sender(uow)
    isolation.check(event.event_type, sender, event.clinic_id, names_itself(sender, event.vendor_id))
    # A clinic the router does not know names no vendor: refused at once, as for any vendor message
    # (a vendor's own topic must not fill the router's tables, nor hold up its partition, with waits).
    clinic = await get_clinic(uow.conn, event.clinic_id)
    vendors = {v.vendor_id for v in clinic.phone.effective_vendors()} if clinic else set()
    isolation.check(event.event_type, sender, event.clinic_id, serves_clinic(event.vendor_id, vendors))
    await uow.emit(
        AppointmentRequested(
            request_id=vendor_request_id(event.vendor_id, event.request_id),
            patient_id=event.patient_id,
            clinic_id=event.clinic_id,
            provider_id=event.provider_id,
            appointment_type=event.appointment_type,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
        )
    )
