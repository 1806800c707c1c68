"""A patient's "3" (reschedule) reply. The request opens with a window (the clinic's
reschedule_self_service_hours, never past the appointment) in which followup sends the patient a link
to a page with the next open times of the same provider and type; the time they pick goes through the
ordinary reschedule command (conflict-safe under the provider's lock, idempotent). A window that closes
untouched becomes a staff task (appointment.reschedule_task) with its deadline.

Reminders carry the same page: the first reminder opens a request of kind `reminder` (no window, no
staff task: the patient did not ask), open until the appointment starts, whose id goes with each
reminder for followup to sign. Moving or cancelling the appointment, by anyone, closes the open
requests of both kinds (lifecycle.py: reschedule_requests.close_open), so a window does not
become a staff task for an appointment already moved, and an old reminder's link does not move the
new time."""

from __future__ import annotations

from datetime import datetime, timedelta

from frontdesk.common.contracts import RescheduleRequested, RescheduleTaskOpened
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import RescheduleWindowTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle, open_times
from .adapters import repository
from .adapters import reschedule_requests as store
from .adapters.clinics import clinic_of
from .domain.appointments import Appointment
from .domain.slots import Interval
from .telemetry import RESCHEDULE_REQUESTS

log = get_logger(__name__)
SEARCH_DAYS = 14


async def open_request(uow: UnitOfWork, appointment: Appointment) -> None:
    """The patient replied "3": open a request (one open request per appointment; a repeat is ignored)."""
    now = booking.now_utc()
    if appointment.status != "booked" or appointment.starts_at <= now:
        log.info("reschedule reply not applied", appointment_id=appointment.appointment_id)
        return
    clinic = await clinic_of(uow, appointment.clinic_id)
    if clinic is None:
        return
    expires = min(now + timedelta(hours=clinic.scheduling.reschedule_self_service_hours), appointment.starts_at)
    reschedule_id = store.new_id()
    if not await store.open_reply(uow.conn, reschedule_id, appointment, expires):
        return  # already asked: the first request's link stands
    await uow.emit(
        RescheduleRequested(
            reschedule_id=reschedule_id,
            appointment_id=appointment.appointment_id,
            patient_id=appointment.patient_id,
            clinic_id=appointment.clinic_id,
            provider_id=appointment.provider_id,
            starts_at=appointment.starts_at,
            expires_at=expires,
        )
    )
    await uow.set_timer(f"reschedule:{reschedule_id}", expires, RescheduleWindowTimer(reschedule_id=reschedule_id))


async def next_open_times(conn: Connection, appointment: Appointment, now: datetime) -> list[Interval]:
    """The next open times of the appointment's provider and type (same length), soonest first."""
    return await open_times.next_open_times(
        conn,
        appointment.clinic_id,
        appointment.provider_id,
        appointment.appointment_type,
        appointment.ends_at - appointment.starts_at,
        Interval(now, now + timedelta(days=SEARCH_DAYS)),
    )


async def choose(uow: UnitOfWork, reschedule_id: str, starts_at: datetime, now: datetime) -> booking.Result:
    """Move the appointment to the patient's pick. The same pick again changes nothing; a pick after the
    request was settled otherwise is refused (410); a time taken meanwhile is a 409 (the page offers
    the times still open)."""
    request = await store.get(uow.conn, reschedule_id, lock=True)
    if request is None:
        return booking.Result(404, reason="not_found", detail="unknown request")
    if request.status == "moved" and request.new_starts_at == starts_at:
        appointment = await repository.get_appointment(uow.conn, request.appointment_id)
        return booking.Result(200, appointment=appointment, changed=False)
    if request.status != "open" or request.expires_at <= now:
        return booking.Result(410, reason="request_closed", detail="this request is no longer open")
    handled_by = "patient" if request.kind == "reply" else "reminder_link"
    result = await lifecycle.change(
        uow, request.appointment_id, "reschedule", starts_at=starts_at, now=now, by=handled_by
    )
    if result.reason is not None:
        return result
    await store.mark_moved(uow.conn, reschedule_id, starts_at, now)
    await uow.cancel_timer(f"reschedule:{reschedule_id}")
    RESCHEDULE_REQUESTS.labels(request.clinic_id, handled_by).inc()
    return result


async def on_window_closed(timer: Timer[RescheduleWindowTimer], uow: UnitOfWork) -> None:
    """The patient did not pick a time: a staff task with its deadline, unless the appointment is no
    longer booked (cancelled, or moved by staff meanwhile: nothing is left to do)."""
    request = await store.get(uow.conn, timer.payload.reschedule_id, lock=True)
    if request is None or request.status != "open":
        return
    now = booking.now_utc()
    appointment = await repository.get_appointment(uow.conn, request.appointment_id)
    clinic = await clinic_of(uow, request.clinic_id)
    if appointment is None or clinic is None or appointment.status != "booked" or appointment.starts_at <= now:
        await store.settle(uow.conn, request.reschedule_id, "closed", now)
        return
    due = min(now + timedelta(hours=clinic.scheduling.reschedule_staff_hours), appointment.starts_at)
    await store.settle(uow.conn, request.reschedule_id, "staff", now, due)
    await uow.emit(
        RescheduleTaskOpened(
            reschedule_id=request.reschedule_id,
            appointment_id=request.appointment_id,
            patient_id=appointment.patient_id,
            clinic_id=request.clinic_id,
            provider_id=request.provider_id,
            starts_at=appointment.starts_at,
            opened_at=now,
            due_at=due,
        )
    )
    RESCHEDULE_REQUESTS.labels(request.clinic_id, "staff").inc()
