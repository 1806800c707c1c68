"""Booking and lifecycle commands: one implementation for HTTP, Kafka events and HL7 messages.

Each command runs inside the caller's unit of work: its rows, the events it emits (outbox) and the
timers it sets (hold expiry, reminders, offer expiry) commit or roll back together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    AppointmentRescheduled,
    ClinicConfig,
    VisitCompleted,
)
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from . import domain
from .adapters import repository
from .adapters.repository import Conflict, NewAppointment
from .domain.slots import Interval, generate_slots, template_intervals, unavailability
from .metrics import REFUSALS

HOLD_TIMER = "hold_expiry"
REMINDER_TIMER = "reminder"
# HTTP status for each reason a booking is refused.
STATUS_OF_REASON = {
    "slot_taken": 409,
    "unknown_clinic": 404,
    "unknown_provider": 404,
    "unknown_appointment_type": 422,
    "invalid": 422,
    "unavailable": 422,
    "too_soon": 422,
}


def now_utc() -> datetime:
    return datetime.now(UTC)


# Parsed clinic configurations (with the HTTP-set templates laid over their providers), reused while
# neither the projection row nor the templates changed: one cheap read instead of decoding and
# validating the whole document on every command.
_clinics: dict[str, tuple[Any, ClinicConfig]] = {}


async def clinic_of(conn: Connection | UnitOfWork, clinic_id: str) -> ClinicConfig | None:
    if isinstance(conn, UnitOfWork):
        conn = conn.conn
    version = await conn.fetchrow(
        "SELECT c.updated_at, t.n, t.latest FROM clinics c, LATERAL (SELECT count(*) AS n, max(updated_at) AS latest"
        " FROM provider_templates WHERE clinic_id = c.clinic_id) t WHERE c.clinic_id = $1",
        clinic_id,
    )
    if version is None:
        return None
    key = tuple(version.values())
    cached = _clinics.get(clinic_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        return None
    if version["n"]:
        overrides = {
            r["provider_id"]: r["availability"]
            for r in await conn.fetch(
                "SELECT provider_id, availability FROM provider_templates WHERE clinic_id = $1", clinic_id
            )
        }
        clinic = clinic.model_copy(
            update={
                "providers": [
                    Provider.model_validate({**p.model_dump(mode="json"), "availability": overrides[p.provider_id]})
                    if p.provider_id in overrides
                    else p
                    for p in clinic.providers
                ]
            }
        )
    _clinics[clinic_id] = (key, clinic)
    return clinic


@dataclass(frozen=True)
class BookCommand:
    request_id: str  # the idempotency key: one request names one appointment
    patient_id: str
    clinic_id: str
    provider_id: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime | None = None
    external_id: str | None = None


@dataclass
class Result:
    """What a command came to: an appointment, or a refusal with its reason."""

    status_code: int
    appointment: dict[str, Any] | None = None
    reason: str | None = None
    detail: str = ""
    conflict: Conflict | None = None
    alternatives: list[Interval] = field(default_factory=list)
    changed: bool = True

    def body(self) -> dict[str, Any]:
        if self.reason is None:
            assert self.appointment is not None
            return {**appointment_json(self.appointment), "changed": self.changed}
        body: dict[str, Any] = {"detail": self.detail or self.reason, "reason": self.reason}
        if self.conflict is not None:
            body["conflict"] = self.conflict.as_json()
        if self.alternatives:
            body["alternatives"] = [
                {"starts_at": a.start.isoformat(), "ends_at": a.end.isoformat()} for a in self.alternatives
            ]
        return body


def refused(reason: str, detail: str, **extra: Any) -> Result:
    REFUSALS.labels(reason).inc()
    return Result(STATUS_OF_REASON.get(reason, 409), reason=reason, detail=detail, **extra)


def appointment_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "appointment_id",
        "request_id",
        "patient_id",
        "clinic_id",
        "provider_id",
        "appointment_type",
        "starts_at",
        "ends_at",
        "status",
        "status_reason",
        "hold_expires_at",
        "confirmed_at",
        "checked_in_at",
        "completed_at",
        "cancelled_at",
        "visit_id",
    )
    out: dict[str, Any] = {}
    for key in keys:
        value = row.get(key)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


# --- booking -------------------------------------------------------------------------------------


async def alternatives_for(
    uow: UnitOfWork, clinic: ClinicConfig, plan: domain.BookingPlan, provider_id: str, now: datetime, count: int = 3
) -> list[Interval]:
    """Free windows of the same length near the one asked for (same provider), closest first."""
    wanted = plan.window.start
    search = Interval(max(now, wanted - timedelta(hours=12)), wanted + timedelta(days=3))
    provider = domain.find_provider(clinic, provider_id)
    if provider is None:
        return []
    if not template_intervals(plan.rules, search):
        return []  # no template in range (e.g. a provider without hours): nothing to propose
    busy = await repository.busy(uow.conn, provider_id, search) + domain.exception_intervals(provider)
    slots = generate_slots(plan.rules, search, busy, now)
    return sorted(slots, key=lambda s: (abs((s.start - wanted).total_seconds()), s.start))[:count]


async def book(
    uow: UnitOfWork, command: BookCommand, *, hold: bool, source: str, now: datetime | None = None
) -> Result:
    """Hold (status pending, with a TTL) or book directly. Never double books: see repository."""
    now = now or now_utc()
    appointment_id = domain.appointment_id_for(command.request_id)
    clinic = await clinic_of(uow, command.clinic_id)
    is_new: bool | None = None
    kind = domain.find_type(clinic, command.appointment_type) if clinic else None
    if kind is not None and kind.patients != "any":
        is_new = await repository.patient_is_new(uow.conn, command.clinic_id, command.patient_id)
    plan = domain.plan_booking(
        clinic, command.provider_id, command.appointment_type, command.starts_at, command.ends_at, is_new
    )
    if isinstance(plan, tuple):
        return refused(*plan)
    assert clinic is not None
    provider = domain.find_provider(clinic, command.provider_id)
    assert provider is not None
    exceptions = domain.exception_intervals(provider)
    problem = unavailability(plan.rules, plan.window, [], now, check_template=plan.check_template)
    if problem is not None:
        return refused(*problem, alternatives=await alternatives_for(uow, clinic, plan, command.provider_id, now))
    for exception in exceptions:
        if plan.blocked.overlaps(exception):
            blocked = Conflict(exception.start, exception.end, "block")
            alternatives = await alternatives_for(uow, clinic, plan, command.provider_id, now)
            return refused("slot_taken", blocked.detail(), conflict=blocked, alternatives=alternatives)
    expires = now + timedelta(seconds=clinic.scheduling.hold_ttl_seconds) if hold else None
    new = NewAppointment(
        appointment_id=appointment_id,
        request_id=command.request_id,
        patient_id=command.patient_id,
        clinic_id=command.clinic_id,
        provider_id=command.provider_id,
        appointment_type=command.appointment_type,
        window=plan.window,
        blocked=plan.blocked,
        status="pending" if hold else "booked",
        source=source,
        hold_expires_at=expires,
        external_id=command.external_id,
    )
    try:
        conflict = await repository.insert_appointment(uow.conn, new)
    except repository.Duplicate:  # the same request again: the same appointment, booked once
        existing = await repository.get_appointment(uow.conn, appointment_id)
        assert existing is not None
        return Result(200, appointment=existing, changed=False)
    if conflict is not None:
        alternatives = await alternatives_for(uow, clinic, plan, command.provider_id, now)
        return refused("slot_taken", conflict.detail(), conflict=conflict, alternatives=alternatives)
    row = repository.row_of(new)
    if hold:
        assert expires is not None
        await uow.set_timer(f"hold:{appointment_id}", HOLD_TIMER, expires, {"appointment_id": appointment_id})
    else:
        await _booked(uow, clinic, row, now, fresh=True)
    return Result(201, appointment=row)


async def _booked(
    uow: UnitOfWork, clinic: ClinicConfig, row: dict[str, Any], now: datetime, *, fresh: bool = False
) -> None:
    await uow.emit(
        AppointmentBooked(
            appointment_id=row["appointment_id"],
            request_id=row["request_id"],
            patient_id=row["patient_id"],
            clinic_id=row["clinic_id"],
            provider_id=row["provider_id"],
            appointment_type=row["appointment_type"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
        )
    )
    await schedule_reminders(uow, clinic, row, now, fresh=fresh)


# --- reminders (durable timers) ------------------------------------------------------------------


async def schedule_reminders(
    uow: UnitOfWork, clinic: ClinicConfig, row: dict[str, Any], now: datetime, *, fresh: bool = False
) -> None:
    """(Re)create the reminder timers of an appointment; `fresh`: it never had any."""
    if not fresh:
        await cancel_reminders(uow, row["appointment_id"])
    appointment_id = row["appointment_id"]
    for offset, due in domain.reminder_schedule(row["starts_at"], clinic.scheduling.reminder_offsets, now):
        await uow.set_timer(
            f"reminder:{appointment_id}:{offset}",
            REMINDER_TIMER,
            due,
            {"appointment_id": appointment_id, "offset": offset, "starts_at": row["starts_at"].isoformat()},
        )


async def cancel_reminders(uow: UnitOfWork, appointment_id: str) -> None:
    await uow.cancel_timers(f"reminder:{appointment_id}:")


# --- lifecycle -----------------------------------------------------------------------------------


def _fact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("appointment_id", "patient_id", "clinic_id", "provider_id")}


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
    target = domain.transition(command, status)
    already = _already_done(command, row)
    if already:
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
    if command == "confirm":
        if row["hold_expires_at"] is not None and row["hold_expires_at"] <= now:
            await repository.set_status(
                uow.conn, appointment_id, "cancelled", status_reason="hold_expired", cancelled_at=now
            )
            await uow.cancel_timer(f"hold:{appointment_id}")
            return Result(409, reason="hold_expired", detail="the hold expired; the slot was released")
        await repository.set_status(uow.conn, appointment_id, "booked", confirmed_at=now)
        await uow.cancel_timer(f"hold:{appointment_id}")
        row = await _reload(uow, appointment_id)
        await _booked(uow, clinic, row, now)
        return Result(200, appointment=row)
    if command == "cancel":
        await uow.cancel_timer(f"hold:{appointment_id}")
        await cancel_reminders(uow, appointment_id)
        late = domain.is_late_cancellation(row["starts_at"], now, clinic.scheduling.late_cancel_hours)
        reason = "hold_released" if status == "pending" else ("late_cancellation" if late else "cancelled")
        await repository.set_status(uow.conn, appointment_id, "cancelled", status_reason=reason, cancelled_at=now)
        if status != "pending":  # a hold was never booked: nobody downstream knew of it
            await uow.emit(
                AppointmentCancelled(**_fact(row), starts_at=row["starts_at"], cancelled_at=now, late=late, by=by)
            )
            from .waitlist import offer_freed_slot

            await offer_freed_slot(uow, clinic, row, now)
        return Result(200, appointment=await _reload(uow, appointment_id))
    if command == "reschedule":
        assert starts_at is not None
        return await _reschedule(uow, clinic, row, starts_at, now)
    if command == "check_in":
        await cancel_reminders(uow, appointment_id)
        await repository.set_status(uow.conn, appointment_id, "checked-in", checked_in_at=now)
        await uow.emit(AppointmentCheckedIn(**_fact(row), checked_in_at=now))
        return Result(200, appointment=await _reload(uow, appointment_id))
    if command in ("no_show", "left_without_visit"):
        await cancel_reminders(uow, appointment_id)
        await repository.set_status(uow.conn, appointment_id, "noshow", status_reason=command)
        await uow.emit(AppointmentNoShow(**_fact(row), starts_at=row["starts_at"], kind=command))
        from .waitlist import offer_freed_slot

        await offer_freed_slot(uow, clinic, row, now)
        return Result(200, appointment=await _reload(uow, appointment_id))
    if command == "complete":
        await cancel_reminders(uow, appointment_id)
        finished = completed_at or now
        visit = visit_id or f"visit-{appointment_id}"
        await repository.set_status(uow.conn, appointment_id, "fulfilled", completed_at=finished, visit_id=visit)
        await uow.emit(
            VisitCompleted(**_fact(row), visit_id=visit, visit_type=row["appointment_type"], completed_at=finished)
        )
        return Result(200, appointment=await _reload(uow, appointment_id))
    raise ValueError(f"unknown command {command}")


def _already_done(command: str, row: dict[str, Any]) -> bool:
    status, reason = row["status"], row["status_reason"]
    return (
        (command == "confirm" and status in ("booked", "arrived", "checked-in", "fulfilled"))
        or (command == "cancel" and status == "cancelled")
        or (command == "check_in" and status in ("checked-in", "fulfilled"))
        or (command in ("no_show", "left_without_visit") and status == "noshow" and reason == command)
        or (command == "complete" and status == "fulfilled")
    )


async def _reload(uow: UnitOfWork, appointment_id: str) -> dict[str, Any]:
    row = await repository.get_appointment(uow.conn, appointment_id)
    assert row is not None
    return row


async def _reschedule(
    uow: UnitOfWork, clinic: ClinicConfig, row: dict[str, Any], starts_at: datetime, now: datetime
) -> Result:
    duration = row["ends_at"] - row["starts_at"]
    if starts_at == row["starts_at"]:
        return Result(200, appointment=row, changed=False)
    plan = domain.plan_booking(
        clinic, row["provider_id"], row["appointment_type"], starts_at, starts_at + duration, None
    )
    if isinstance(plan, tuple):
        return refused(*plan)
    provider = domain.find_provider(clinic, row["provider_id"])
    assert provider is not None
    problem = unavailability(plan.rules, plan.window, [], now, check_template=plan.check_template)
    if problem is not None:
        return refused(*problem)
    for exception in domain.exception_intervals(provider):
        if plan.blocked.overlaps(exception):
            blocked = Conflict(exception.start, exception.end, "block")
            return refused("slot_taken", blocked.detail(), conflict=blocked)
    status = "booked" if row["status"] == "booked" else row["status"]
    conflict = await repository.move_appointment(
        uow.conn, row["appointment_id"], row["provider_id"], plan.window, plan.blocked, status
    )
    if conflict is not None:
        alternatives = await alternatives_for(uow, clinic, plan, row["provider_id"], now)
        return refused("slot_taken", conflict.detail(), conflict=conflict, alternatives=alternatives)
    moved = await _reload(uow, row["appointment_id"])
    if row["status"] == "pending":
        # A held slot moves with its hold; the TTL timer still stands.
        await uow.conn.execute(
            "UPDATE appointments SET hold_expires_at = $2 WHERE appointment_id = $1",
            row["appointment_id"],
            row["hold_expires_at"],
        )
        return Result(200, appointment=await _reload(uow, row["appointment_id"]))
    await uow.emit(
        AppointmentRescheduled(
            **_fact(row), previous_starts_at=row["starts_at"], starts_at=moved["starts_at"], ends_at=moved["ends_at"]
        )
    )
    await schedule_reminders(uow, clinic, moved, now)
    from .waitlist import offer_freed_slot

    await offer_freed_slot(uow, clinic, row, now)
    return Result(200, appointment=moved)
