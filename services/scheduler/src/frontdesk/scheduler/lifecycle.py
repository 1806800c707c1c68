"""The visit lifecycle after a booking: confirm, cancel, reschedule, check-in, no-show, complete.

`change` locks the appointment, answers a repeat with the appointment as it is (nothing emitted twice:
visit.completed goes out once, on the transition), refuses a transition the status does not allow,
and otherwise hands the step to its function in STEPS. A slot a step frees goes to the waitlist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from frontdesk.common.contracts import (
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    AppointmentRescheduled,
    ClinicConfig,
    VisitCompleted,
)
from frontdesk.common.uow import UnitOfWork

from .adapters import repository
from .adapters.clinics import clinic_of
from .adapters.repository import Conflict
from .booking import Result, alternatives_for, announce_booked, cancel_reminders, now_utc, refused, schedule_reminders
from .domain import booking as booking_rules
from .domain.slots import unavailability
from .waitlist import offer_freed_slot


@dataclass(frozen=True)
class Change:
    """One lifecycle command on one appointment row, locked in the caller's unit of work."""

    command: str
    uow: UnitOfWork
    clinic: ClinicConfig
    row: dict[str, Any]
    now: datetime
    by: str = "clinic"
    starts_at: datetime | None = None
    visit_id: str | None = None
    completed_at: datetime | None = None

    @property
    def appointment_id(self) -> str:
        appointment_id: str = self.row["appointment_id"]
        return appointment_id

    def fact(self) -> dict[str, Any]:
        """What every lifecycle event says about the appointment."""
        return {k: self.row[k] for k in ("appointment_id", "patient_id", "clinic_id", "provider_id")}

    async def reload(self) -> dict[str, Any]:
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
    status = row["status"]
    target = booking_rules.transition(command, status)
    if _already_done(command, row):
        return Result(200, appointment=row, changed=False)
    if target is None:
        return Result(
            409,
            reason="invalid_transition",
            detail=f"cannot {command.replace('_', ' ')} an appointment that is {status}",
        )
    clinic = await clinic_of(uow, row["clinic_id"])
    if clinic is None:
        return refused("unknown_clinic", "the clinic has no configuration")
    step = STEPS.get(command)
    if step is None:
        raise ValueError(f"unknown command {command}")
    return await step(Change(command, uow, clinic, row, now, by, starts_at, visit_id, completed_at))


def _already_done(command: str, row: dict[str, Any]) -> bool:
    status, reason = row["status"], row["status_reason"]
    return (
        (command == "confirm" and status in ("booked", "arrived", "checked-in", "fulfilled"))
        or (command == "cancel" and status == "cancelled")
        or (command == "check_in" and status in ("checked-in", "fulfilled"))
        or (command in ("no_show", "left_without_visit") and status == "noshow" and reason == command)
        or (command == "complete" and status == "fulfilled")
    )


async def _confirm(c: Change) -> Result:
    row, conn = c.row, c.uow.conn
    if row["hold_expires_at"] is not None and row["hold_expires_at"] <= c.now:
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
    row, status = c.row, c.row["status"]
    await c.uow.cancel_timer(f"hold:{c.appointment_id}")
    await cancel_reminders(c.uow, c.appointment_id)
    late = booking_rules.is_late_cancellation(row["starts_at"], c.now, c.clinic.scheduling.late_cancel_hours)
    reason = "hold_released" if status == "pending" else ("late_cancellation" if late else "cancelled")
    await repository.set_status(c.uow.conn, c.appointment_id, "cancelled", status_reason=reason, cancelled_at=c.now)
    await repository.close_reschedule_requests(c.uow.conn, c.appointment_id, c.now)
    if status != "pending":  # a hold was never booked: nobody downstream knew of it
        await c.uow.emit(
            AppointmentCancelled(**c.fact(), starts_at=row["starts_at"], cancelled_at=c.now, late=late, by=c.by)
        )
        await offer_freed_slot(c.uow, c.clinic, row, c.now)
    return Result(200, appointment=await c.reload())


async def _check_in(c: Change) -> Result:
    await cancel_reminders(c.uow, c.appointment_id)
    await repository.set_status(c.uow.conn, c.appointment_id, "checked-in", checked_in_at=c.now)
    await c.uow.emit(AppointmentCheckedIn(**c.fact(), checked_in_at=c.now))
    return Result(200, appointment=await c.reload())


async def _no_show(c: Change) -> Result:
    """no_show (never came) or left_without_visit (checked in, left before being seen)."""
    await cancel_reminders(c.uow, c.appointment_id)
    await repository.set_status(c.uow.conn, c.appointment_id, "noshow", status_reason=c.command)
    await c.uow.emit(AppointmentNoShow(**c.fact(), starts_at=c.row["starts_at"], kind=c.command))
    await offer_freed_slot(c.uow, c.clinic, c.row, c.now)
    return Result(200, appointment=await c.reload())


async def _complete(c: Change) -> Result:
    await cancel_reminders(c.uow, c.appointment_id)
    finished = c.completed_at or c.now
    visit = c.visit_id or f"visit-{c.appointment_id}"
    await repository.set_status(c.uow.conn, c.appointment_id, "fulfilled", completed_at=finished, visit_id=visit)
    await c.uow.emit(
        VisitCompleted(**c.fact(), visit_id=visit, visit_type=c.row["appointment_type"], completed_at=finished)
    )
    return Result(200, appointment=await c.reload())


# A move the patient made on their reschedule page, as the event (and the console's report) names it.
_SELF_SERVICE: dict[str, Literal["patient", "reminder_link"]] = {"patient": "patient", "reminder_link": "reminder_link"}


async def _reschedule(c: Change) -> Result:
    row, uow, clinic = c.row, c.uow, c.clinic
    assert c.starts_at is not None
    if c.starts_at == row["starts_at"]:
        return Result(200, appointment=row, changed=False)
    duration = row["ends_at"] - row["starts_at"]
    plan = booking_rules.plan_booking(
        clinic, row["provider_id"], row["appointment_type"], c.starts_at, c.starts_at + duration, None
    )
    if isinstance(plan, tuple):
        return refused(*plan)
    provider = booking_rules.find_provider(clinic, row["provider_id"])
    assert provider is not None
    problem = unavailability(plan.rules, plan.window, [], c.now, check_template=plan.check_template)
    if problem is not None:
        return refused(*problem)
    for exception in booking_rules.exception_intervals(provider):
        if plan.blocked.overlaps(exception):
            blocked = Conflict(exception.start, exception.end, "block")
            return refused("slot_taken", blocked.detail(), conflict=blocked)
    status = "booked" if row["status"] == "booked" else row["status"]
    conflict = await repository.move_appointment(
        uow.conn, c.appointment_id, row["provider_id"], plan.window, plan.blocked, status
    )
    if conflict is not None:
        alternatives = await alternatives_for(uow, clinic, plan, row["provider_id"], c.now)
        return refused("slot_taken", conflict.detail(), conflict=conflict, alternatives=alternatives)
    if row["status"] == "pending":
        # A held slot moves with its hold; the TTL timer still stands.
        await repository.keep_hold(uow.conn, c.appointment_id, row["hold_expires_at"])
        return Result(200, appointment=await c.reload())
    moved = await c.reload()
    await repository.close_reschedule_requests(uow.conn, c.appointment_id, c.now)
    await uow.emit(
        AppointmentRescheduled(
            **c.fact(),
            previous_starts_at=row["starts_at"],
            starts_at=moved["starts_at"],
            ends_at=moved["ends_at"],
            handled_by=_SELF_SERVICE.get(c.by),
        )
    )
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
