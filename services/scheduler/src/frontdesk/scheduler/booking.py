"""Booking: a hold or a direct booking, one implementation for HTTP, Kafka events, HL7 and the waitlist.

Each command runs inside the caller's unit of work: its rows, the events it emits (outbox) and the
timers it sets (hold expiry, reminders) commit or roll back together. The lifecycle that follows a
booking (confirm, cancel, reschedule, check-in, no-show, complete) is in lifecycle.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.timer_payloads import HoldExpiryTimer, ReminderTimer
from frontdesk.common.uow import UnitOfWork, Writes

from . import open_times
from .adapters import clinics, repository
from .adapters.clinics import KnownClinic
from .adapters.repository import Conflict
from .domain import appointments as events
from .domain import booking as booking_rules
from .domain.appointments import Appointment
from .domain.slots import Interval, template_intervals, unavailability
from .telemetry import REFUSALS

# Where a command's events and timers go: its unit of work, or writes kept apart for its own statement.
Effects = UnitOfWork | Writes
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
    # Whether the patient is new to the clinic, as they said on the booking page (their record is found
    # only once their code proves the number; the page checks again then). None: from their visits.
    patient_is_new: bool | None = None


@dataclass
class Result:
    """What a command came to: an appointment, or a refusal with its reason."""

    status_code: int
    appointment: Appointment | None = None
    reason: str | None = None
    detail: str = ""
    conflict: Conflict | None = None
    alternatives: list[Interval] = field(default_factory=list)
    changed: bool = True

    def body(self) -> dict[str, Any]:
        if self.reason is None:
            assert self.appointment is not None
            return {**self.appointment.as_json(), "changed": self.changed}
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


# --- booking -------------------------------------------------------------------------------------


async def alternatives_for(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    plan: booking_rules.BookingPlan,
    provider_id: str,
    now: datetime,
    count: int = 3,
) -> list[Interval]:
    """Free windows of the same length near the one asked for (same provider), closest first."""
    wanted = plan.window.start
    search = Interval(max(now, wanted - timedelta(hours=12)), wanted + timedelta(days=3))
    provider = booking_rules.find_provider(clinic, provider_id)
    if provider is None:
        return []
    if not template_intervals(plan.rules, search):
        return []  # no template in range (e.g. a provider without hours): nothing to propose
    slots = await open_times.free_slots(uow.conn, provider, plan.rules, search, now)
    return sorted(slots, key=lambda s: (abs((s.start - wanted).total_seconds()), s.start))[:count]


async def book(
    uow: UnitOfWork, command: BookCommand, *, hold: bool, source: str, now: datetime | None = None
) -> Result:
    """Hold (status pending, with a TTL) or book directly. Never double books: see repository.book.

    The command is planned with the clinic's configuration as this process last read it, without
    reading it again: the booking statement checks its version and answers "stale" if it changed,
    and a refusal that the configuration decides is only given on a configuration read afresh. So a
    booking costs one round trip: its statement, which also writes its events and timers."""
    now = now or now_utc()
    known = clinics.cached(command.clinic_id)
    while True:  # again only when the configuration changed meanwhile (an administrator's edit)
        checked = known is None
        if known is None:
            known = await clinics.current(uow.conn, command.clinic_id)
            if known is None:
                return refused("unknown_clinic", "the clinic has no configuration")
        result = await _book_with(uow, command, known, checked=checked, hold=hold, source=source, now=now)
        if result is not None:
            return result
        known = None


async def _book_with(
    uow: UnitOfWork, command: BookCommand, known: KnownClinic, *, checked: bool, hold: bool, source: str, now: datetime
) -> Result | None:
    """`book` with one version of the clinic's configuration; None: the configuration is stale (or,
    unchecked, would refuse the command), read it again."""
    clinic = known.config
    plan = await _plan(uow, clinic, command)
    if isinstance(plan, tuple):
        return refused(*plan) if checked else None
    refusal = _unbookable(plan, clinic, command, now)
    if refusal is not None:
        if not checked:
            return None
        reason, detail, conflict = refusal
        alternatives = await alternatives_for(uow, clinic, plan, command.provider_id, now)
        return refused(reason, detail, conflict=conflict, alternatives=alternatives)
    appointment = _new_appointment(command, plan, clinic, hold=hold, source=source, now=now)
    writes = uow.apart()  # written by the booking statement, only if it books
    if hold:
        await _announce_held(writes, appointment, now)
    else:
        await _announce_booked(writes, clinic, appointment, now)
    outcome = await repository.book(uow.conn, appointment, known.version, writes)
    if outcome == "stale":
        return None
    if outcome == "duplicate":  # the same request again: the same appointment, booked once
        existing = await repository.get_appointment(uow.conn, appointment.appointment_id)
        assert existing is not None
        return Result(200, appointment=existing, changed=False)
    if isinstance(outcome, Conflict):
        alternatives = await alternatives_for(uow, clinic, plan, command.provider_id, now)
        return refused("slot_taken", outcome.detail(), conflict=outcome, alternatives=alternatives)
    uow.written(writes)
    return Result(201, appointment=appointment)


async def _plan(
    uow: UnitOfWork, clinic: ClinicConfig, command: BookCommand
) -> booking_rules.BookingPlan | tuple[str, str]:
    """The command checked against the configuration (and, for a type only new or only returning
    patients may book, against the patient's visits)."""
    is_new: bool | None = None
    kind = booking_rules.find_type(clinic, command.appointment_type)
    if kind is not None and kind.patients != "any":
        is_new = command.patient_is_new
        if is_new is None:
            is_new = await repository.patient_is_new(uow.conn, command.clinic_id, command.patient_id)
    return booking_rules.plan_booking(
        clinic, command.provider_id, command.appointment_type, command.starts_at, command.ends_at, is_new
    )


def _unbookable(
    plan: booking_rules.BookingPlan, clinic: ClinicConfig, command: BookCommand, now: datetime
) -> tuple[str, str, Conflict | None] | None:
    """Why the configuration alone refuses the window (notice, template, the provider's exceptions)."""
    problem = unavailability(plan.rules, plan.window, [], now, check_template=plan.check_template)
    if problem is not None:
        return (*problem, None)
    provider = booking_rules.find_provider(clinic, command.provider_id)
    assert provider is not None
    for exception in booking_rules.exception_intervals(provider):
        if plan.blocked.overlaps(exception):
            blocked = Conflict(exception.start, exception.end, "block")
            return "slot_taken", blocked.detail(), blocked
    return None


def _new_appointment(
    command: BookCommand,
    plan: booking_rules.BookingPlan,
    clinic: ClinicConfig,
    *,
    hold: bool,
    source: str,
    now: datetime,
) -> Appointment:
    return Appointment(
        appointment_id=booking_rules.appointment_id_for(command.request_id),
        request_id=command.request_id,
        patient_id=command.patient_id,
        clinic_id=command.clinic_id,
        provider_id=command.provider_id,
        appointment_type=command.appointment_type,
        starts_at=plan.window.start,
        ends_at=plan.window.end,
        blocked_from=plan.blocked.start,
        blocked_until=plan.blocked.end,
        status="pending" if hold else "booked",
        source=source,
        hold_expires_at=now + timedelta(seconds=clinic.scheduling.hold_ttl_seconds) if hold else None,
        external_id=command.external_id,
    )


async def _announce_held(effects: Writes, held: Appointment, now: datetime) -> None:
    appointment_id, expires = held.appointment_id, held.hold_expires_at
    assert expires is not None
    await effects.set_timer(f"hold:{appointment_id}", expires, HoldExpiryTimer(appointment_id=appointment_id))
    await effects.emit(events.held(held, now))


async def announce_booked(
    uow: UnitOfWork, clinic: ClinicConfig, appointment: Appointment, now: datetime, *, fresh: bool = False
) -> None:
    """The appointment is booked: say so and set its reminders (`fresh`: it never had any)."""
    if not fresh:
        await cancel_reminders(uow, appointment.appointment_id)
    await _announce_booked(uow, clinic, appointment, now)


async def _announce_booked(effects: Effects, clinic: ClinicConfig, appointment: Appointment, now: datetime) -> None:
    await effects.emit(events.booked(appointment))
    await _set_reminders(effects, clinic, appointment, now)


# --- reminders (durable timers) ------------------------------------------------------------------


async def schedule_reminders(
    uow: UnitOfWork, clinic: ClinicConfig, appointment: Appointment, now: datetime, *, fresh: bool = False
) -> None:
    """(Re)create the reminder timers of an appointment; `fresh`: it never had any."""
    if not fresh:
        await cancel_reminders(uow, appointment.appointment_id)
    await _set_reminders(uow, clinic, appointment, now)


async def _set_reminders(effects: Effects, clinic: ClinicConfig, appointment: Appointment, now: datetime) -> None:
    appointment_id, starts_at = appointment.appointment_id, appointment.starts_at
    zone = clinic.zone_of(appointment.provider_id)  # the days before are counted where it is kept
    offsets = clinic.scheduling.reminder_offsets
    for offset, due in booking_rules.reminder_schedule(starts_at, offsets, now, zone):
        await effects.set_timer(
            f"reminder:{appointment_id}:{offset}",
            due,
            ReminderTimer(appointment_id=appointment_id, offset=offset, starts_at=starts_at),
        )


async def cancel_reminders(uow: UnitOfWork, appointment_id: str) -> None:
    await uow.cancel_timers(f"reminder:{appointment_id}:")
