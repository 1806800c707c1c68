"""The visit lifecycle after a booking: confirm, cancel, reschedule, check-in, no-show, complete.

`change` locks the appointment, answers a repeat with the appointment as it is (nothing emitted twice:
visit.completed goes out once, on the transition), refuses a transition the status does not allow,
and otherwise hands the step to its function in STEPS. A slot a step frees goes to the waitlist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.uow import UnitOfWork

from .adapters import repository, reschedule_requests
from .adapters.clinics import clinic_of
from .adapters.repository import Conflict
from .booking import Result, alternatives_for, announce_booked, cancel_reminders, now_utc, refused, schedule_reminders
from .domain import appointments as events
from .domain import booking as booking_rules
from .domain.appointments import Appointment
from .domain.slots import unavailability
from .waitlist import offer_freed_slot


@dataclass(frozen=True)
class Change:
    """One lifecycle command on one appointment, locked in the caller's unit of work."""

    command: str
    uow: UnitOfWork
    clinic: ClinicConfig
    appointment: Appointment
    now: datetime
    by: str = "clinic"
    starts_at: datetime | None = None
    visit_id: str | None = None
    completed_at: datetime | None = None

    @property
    def appointment_id(self) -> str:
        return self.appointment.appointment_id

    async def reload(self) -> Appointment:
        row = await repository.get_appointment(self.uow.conn, self.appointment_id)
        assert row is not None
        return row


async def change(
    uow: UnitOfWork,
    appointment_id: str,
    command: str,
    *,
    now: datetime | None = None,
    by: str = "clinic",
    starts_at: datetime | None = None,
    visit_id: str | None = None,
    completed_at: datetime | None = None,
) -> Result:
    """Apply a lifecycle command. Repeating one that already happened changes nothing and emits
    nothing (visit.completed is emitted once, on the transition)."""
    now = now or now_utc()
    row = await repository.get_appointment(uow.conn, appointment_id, for_update=True)
    if row is None:
        return Result(404, reason="not_found", detail=f"no appointment {appointment_id}")
    status = row.status
    target = booking_rules.transition(command, status)
    if _already_done(command, row):
        return Result(200, appointment=row, changed=False)
    if target is None:
        return Result(
            409,
            reason="invalid_transition",
            detail=f"cannot {command.replace('_', ' ')} an appointment that is {status}",
        )
    clinic = await clinic_of(uow, row.clinic_id)
    if clinic is None:
        return refused("unknown_clinic", "the clinic has no configuration")
    step = STEPS.get(command)
    if step is None:
        raise ValueError(f"unknown command {command}")
    return await step(Change(command, uow, clinic, row, now, by, starts_at, visit_id, completed_at))


def _already_done(command: str, row: Appointment) -> bool:
    status, reason = row.status, row.status_reason
    return (
        (command == "confirm" and status in ("booked", "arrived", "checked-in", "fulfilled"))
        or (command == "cancel" and status == "cancelled")
        or (command == "check_in" and status in ("checked-in", "fulfilled"))
        or (command in ("no_show", "left_without_visit") and status == "noshow" and reason == command)
        or (command == "complete" and status == "fulfilled")
    )


async def _confirm(c: Change) -> Result:
    row, conn = c.appointment, c.uow.conn
    if row.hold_expires_at is not None and row.hold_expires_at <= c.now:
        await repository.set_status(
            conn, c.appointment_id, "cancelled", status_reason="hold_expired", cancelled_at=c.now
        )
        await c.uow.cancel_timer(f"hold:{c.appointment_id}")
        return Result(409, reason="hold_expired", detail="the hold expired; the slot was released")
    await repository.set_status(conn, c.appointment_id, "booked", confirmed_at=c.now)
    await c.uow.cancel_timer(f"hold:{c.appointment_id}")
    row = await c.reload()
    await announce_booked(c.uow, c.clinic, row, c.now)
    return Result(200, appointment=row)


async def _cancel(c: Change) -> Result:
    row, status = c.appointment, c.appointment.status
    await c.uow.cancel_timer(f"hold:{c.appointment_id}")
    await cancel_reminders(c.uow, c.appointment_id)
    late = booking_rules.is_late_cancellation(row.starts_at, c.now, c.clinic.scheduling.late_cancel_hours)
    reason = "hold_released" if status == "pending" else ("late_cancellation" if late else "cancelled")
    await repository.set_status(c.uow.conn, c.appointment_id, "cancelled", status_reason=reason, cancelled_at=c.now)
    await reschedule_requests.close_open(c.uow.conn, c.appointment_id, c.now)
    if status != "pending":  # a hold was never booked: nobody downstream knew of it
        await c.uow.emit(events.cancelled(row, c.now, late=late, by=_BY[c.by]))
        await offer_freed_slot(c.uow, c.clinic, row, c.now)
    return Result(200, appointment=await c.reload())


async def _check_in(c: Change) -> Result:
    await cancel_reminders(c.uow, c.appointment_id)
    await repository.set_status(c.uow.conn, c.appointment_id, "checked-in", checked_in_at=c.now)
    await c.uow.emit(events.checked_in(c.appointment, c.now))
    return Result(200, appointment=await c.reload())


async def _no_show(c: Change) -> Result:
    """no_show (never came) or left_without_visit (checked in, left before being seen)."""
    await cancel_reminders(c.uow, c.appointment_id)
    await repository.set_status(c.uow.conn, c.appointment_id, "noshow", status_reason=c.command)
    await c.uow.emit(events.no_show(c.appointment, _NO_SHOW[c.command]))
    await offer_freed_slot(c.uow, c.clinic, c.appointment, c.now)
    return Result(200, appointment=await c.reload())


async def _complete(c: Change) -> Result:
    await cancel_reminders(c.uow, c.appointment_id)
    finished = c.completed_at or c.now
    visit = c.visit_id or f"visit-{c.appointment_id}"
    await repository.set_status(c.uow.conn, c.appointment_id, "fulfilled", completed_at=finished, visit_id=visit)
    await c.uow.emit(events.completed(c.appointment, visit, finished))
    return Result(200, appointment=await c.reload())


# Who cancelled, and which kind of no-show, as the events name them.
_BY: dict[str, Literal["patient", "clinic", "system"]] = {"patient": "patient", "clinic": "clinic", "system": "system"}
_NO_SHOW: dict[str, Literal["no_show", "left_without_visit"]] = {
    "no_show": "no_show",
    "left_without_visit": "left_without_visit",
}
# A move the patient made on their reschedule page, as the event (and the console's report) names it.
_SELF_SERVICE: dict[str, Literal["patient", "reminder_link"]] = {"patient": "patient", "reminder_link": "reminder_link"}


async def _reschedule(c: Change) -> Result:
    row, uow, clinic = c.appointment, c.uow, c.clinic
    assert c.starts_at is not None
    if c.starts_at == row.starts_at:
        return Result(200, appointment=row, changed=False)
    duration = row.ends_at - row.starts_at
    plan = booking_rules.plan_booking(
        clinic, row.provider_id, row.appointment_type, c.starts_at, c.starts_at + duration, None
    )
    if isinstance(plan, tuple):
        return refused(*plan)
    provider = booking_rules.find_provider(clinic, row.provider_id)
    assert provider is not None
    problem = unavailability(plan.rules, plan.window, [], c.now, check_template=plan.check_template)
    if problem is not None:
        return refused(*problem)
    for exception in booking_rules.exception_intervals(provider):
        if plan.blocked.overlaps(exception):
            blocked = Conflict(exception.start, exception.end, "block")
            return refused("slot_taken", blocked.detail(), conflict=blocked)
    conflict = await repository.move_appointment(
        uow.conn, c.appointment_id, row.provider_id, plan.window, plan.blocked, row.status
    )
    if conflict is not None:
        alternatives = await alternatives_for(uow, clinic, plan, row.provider_id, c.now)
        return refused("slot_taken", conflict.detail(), conflict=conflict, alternatives=alternatives)
    if row.status == "pending":
        # A held slot moves with its hold; the TTL timer still stands.
        await repository.keep_hold(uow.conn, c.appointment_id, row.hold_expires_at)
        return Result(200, appointment=await c.reload())
    moved = await c.reload()
    await reschedule_requests.close_open(uow.conn, c.appointment_id, c.now)
    await uow.emit(events.rescheduled(row, moved, _SELF_SERVICE.get(c.by)))
    await schedule_reminders(uow, clinic, moved, c.now)
    await offer_freed_slot(uow, clinic, row, c.now)
    return Result(200, appointment=moved)


Step = Callable[[Change], Awaitable[Result]]
# The step each lifecycle command runs once `change` has found it allowed and not yet done.
STEPS: dict[str, Step] = {
    "confirm": _confirm,
    "cancel": _cancel,
    "reschedule": _reschedule,
    "check_in": _check_in,
    "no_show": _no_show,
    "left_without_visit": _no_show,
    "complete": _complete,
}
