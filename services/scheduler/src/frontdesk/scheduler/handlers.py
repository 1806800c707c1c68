"""Event and timer handlers: thin glue between events, the use cases and the database."""

from __future__ import annotations

from frontdesk.common.contracts import (
    AppointmentRejected,
    AppointmentReplyReceived,
    AppointmentRequested,
    BookingCodeFailed,
)
from frontdesk.common.contracts.scheduling import SlotWindow
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import HoldExpiryTimer, ReminderTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle, online_booking, reschedule_requests, waitlist
from .adapters import idempotency, repository
from .adapters import reschedule_requests as requests_store
from .domain import appointments as events
from .domain import booking as booking_rules

log = get_logger(__name__)
REJECT_REASONS = {
    "slot_taken",
    "unknown_clinic",
    "unknown_provider",
    "invalid",
    "unknown_appointment_type",
    "unavailable",
    "too_soon",
}


async def handle_appointment_requested(event: AppointmentRequested, uow: UnitOfWork) -> None:
    if await idempotency.request_seen(uow.conn, event.request_id):
        return  # idempotency key: this request already has its answer
    result = await booking.book(
        uow,
        booking.BookCommand(
            request_id=event.request_id,
            patient_id=event.patient_id,
            clinic_id=event.clinic_id,
            provider_id=event.provider_id,
            appointment_type=event.appointment_type,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
        ),
        hold=False,
        source="event",
    )
    await idempotency.remember_request(uow.conn, event.request_id, "booked" if result.appointment else "rejected")
    if result.appointment is not None:
        if not result.changed:  # booked earlier (e.g. over HTTP with the same key): say so again
            await uow.emit(events.booked(result.appointment))
        return
    reason = result.reason if result.reason in REJECT_REASONS else "invalid"
    await uow.emit(
        AppointmentRejected(
            request_id=event.request_id,
            patient_id=event.patient_id,
            clinic_id=event.clinic_id,
            provider_id=event.provider_id,
            reason=reason,
            detail=result.detail[:300],
            alternatives=[SlotWindow(starts_at=a.start, ends_at=a.end) for a in result.alternatives],
        )
    )


async def handle_reply_received(event: AppointmentReplyReceived, uow: UnitOfWork) -> None:
    """A patient answered a reminder: confirm marks it confirmed, cancel cancels it (by the patient).
    A reschedule request opens the patient's self-service window (reschedule_requests)."""
    appointment = await repository.get_appointment(uow.conn, event.appointment_id)
    if appointment is None:
        log.warning("reply for an unknown appointment", appointment_id=event.appointment_id)
        return
    if event.reply == "confirm":
        await repository.mark_confirmed(uow.conn, event.appointment_id, event.received_at)
    elif event.reply == "cancel":
        result = await lifecycle.change(uow, event.appointment_id, "cancel", by="patient", now=event.received_at)
        if result.reason is not None:  # e.g. the visit already happened: nothing to cancel
            log.info("cancel reply not applied", appointment_id=event.appointment_id, reason=result.reason)
    else:
        await reschedule_requests.open_request(uow, appointment)


async def on_hold_expiry(timer: Timer[HoldExpiryTimer], uow: UnitOfWork) -> None:
    """A hold's time-to-live ran out: release the slot unless it was confirmed meanwhile."""
    appointment = await repository.get_appointment(uow.conn, timer.payload.appointment_id, for_update=True)
    if appointment is None or appointment.status != "pending":
        return
    now = booking.now_utc()
    await repository.set_status(
        uow.conn, appointment.appointment_id, "cancelled", status_reason="hold_expired", cancelled_at=now
    )
    if appointment.source == "waitlist":
        await waitlist.reoffer_lapsed_hold(uow, appointment, now)


async def on_reminder(timer: Timer[ReminderTimer], uow: UnitOfWork) -> None:
    """A reminder is due: tell followup, unless the appointment moved or is no longer booked. It carries
    the appointment's reminder link to the reschedule page (adapters/reschedule_requests.py: reminder_link)."""
    appointment = await repository.get_appointment(uow.conn, timer.payload.appointment_id)
    if appointment is None or appointment.status != "booked":
        return
    if appointment.starts_at != timer.payload.starts_at:
        return  # rescheduled: its new reminders are separate timers
    offset = timer.payload.offset
    reminder_id = booking_rules.reminder_id(appointment.appointment_id, offset, appointment.starts_at)
    link = await requests_store.reminder_link(uow.conn, appointment)
    await uow.emit(events.reminder_due(appointment, reminder_id, offset, link))


async def handle_code_failed(event: BookingCodeFailed, uow: UnitOfWork) -> None:
    """followup could not text a booking page's code: the attempt ends, its hold is released."""
    await online_booking.code_failed(uow, event.clinic_id, event.verification_id, event.reason, booking.now_utc())
