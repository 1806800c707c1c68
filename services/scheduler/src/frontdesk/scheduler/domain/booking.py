"""Booking rules that need no I/O. The no-double-booking guarantee itself is the database's
exclusion constraint (see migrations); this module decides what to ask for and how to answer.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import AppointmentRequested, ClinicConfig
from frontdesk.common.contracts.scheduling import REMINDER_OFFSET, AppointmentType, Provider

from .slots import WEEKDAY_NAMES, Interval, SlotRules

# FHIR Appointment.status values we store. "Active" ones hold their time on the calendar (the
# exclusion constraint's WHERE clause lists the same set).
ACTIVE = frozenset({"pending", "booked", "arrived", "checked-in", "fulfilled"})
STATUSES = ACTIVE | {"cancelled", "noshow", "entered-in-error"}


def appointment_id_for(request_id: str) -> str:
    """Deterministic id: the same request always names the same appointment."""
    return "appt-" + uuid.uuid5(uuid.NAMESPACE_URL, "frontdesk:appointment:" + request_id).hex[:20]


def validation_problem(clinic: ClinicConfig | None, request: AppointmentRequested) -> tuple[str, str] | None:
    """Why a request cannot be booked before touching the calendar, as (reason, detail), or None."""
    if clinic is None:
        return "unknown_clinic", "the clinic has no configuration"
    if clinic.providers and request.provider_id not in {p.provider_id for p in clinic.providers}:
        return "unknown_provider", "the provider does not work at this clinic"
    return None


# --- configuration -> rules ----------------------------------------------------------------------


def find_provider(clinic: ClinicConfig, provider_id: str) -> Provider | None:
    """The provider's configuration; a clinic that lists no providers accepts any provider id."""
    for provider in clinic.providers:
        if provider.provider_id == provider_id:
            return provider
    return None if clinic.providers else Provider(provider_id=provider_id)


def find_type(clinic: ClinicConfig, type_id: str) -> AppointmentType | None:
    for kind in clinic.scheduling.appointment_types:
        if kind.type_id == type_id:
            return kind
    return None


def offers_type(provider: Provider, type_id: str) -> bool:
    return not provider.appointment_types or type_id in provider.appointment_types


def rules_for(
    clinic: ClinicConfig, provider: Provider, kind: AppointmentType | None, duration: timedelta | None = None
) -> SlotRules:
    """Slot rules for one provider and type. A provider without a template of their own uses the
    clinic's opening hours; an unconfigured type (clinics that list none) takes `duration`."""
    template: dict[str, list[tuple[time, time]]]
    if provider.availability is not None:
        template = {day: [(i.starts, i.ends) for i in ivs] for day, ivs in provider.availability.items()}
    else:
        template = {day: [(i.opens, i.closes) for i in ivs] for day, ivs in clinic.hours.items()}
    length = timedelta(minutes=kind.duration_minutes) if kind else (duration or timedelta(minutes=30))
    return SlotRules(
        zone=clinic.zone_of(provider.provider_id),
        template={d: template.get(d, []) for d in WEEKDAY_NAMES},
        duration=length,
        step=timedelta(minutes=clinic.scheduling.slot_step_minutes),
        buffer_before=timedelta(minutes=kind.buffer_before_minutes) if kind else timedelta(0),
        buffer_after=timedelta(minutes=kind.buffer_after_minutes) if kind else timedelta(0),
        min_notice=timedelta(minutes=kind.min_notice_minutes) if kind else timedelta(0),
        closures=frozenset(clinic.closures),
    )


def exception_intervals(provider: Provider) -> list[Interval]:
    return [Interval(e.starts_at, e.ends_at) for e in provider.exceptions]


@dataclass(frozen=True)
class BookingPlan:
    """A request checked against the configuration: the window, what it blocks, and the rules."""

    window: Interval
    blocked: Interval
    rules: SlotRules
    check_template: bool


def plan_booking(
    clinic: ClinicConfig | None,
    provider_id: str,
    type_id: str,
    starts_at: datetime,
    ends_at: datetime | None,
    patient_is_new: bool | None = None,
) -> BookingPlan | tuple[str, str]:
    """Check a booking command against the configuration; return the plan or (reason, detail)."""
    if clinic is None:
        return "unknown_clinic", "the clinic has no configuration"
    provider = find_provider(clinic, provider_id)
    if provider is None:
        return "unknown_provider", "the provider does not work at this clinic"
    kind = find_type(clinic, type_id)
    if kind is None and clinic.scheduling.appointment_types:
        return "unknown_appointment_type", f"the clinic has no appointment type {type_id}"
    if not offers_type(provider, type_id):
        return "unknown_appointment_type", f"the provider does not offer {type_id}"
    if kind is not None:
        expected = starts_at + timedelta(minutes=kind.duration_minutes)
        if ends_at is not None and ends_at != expected:
            return "invalid", f"{type_id} lasts {kind.duration_minutes} minutes"
        ends_at = expected
        if patient_is_new is not None and kind.patients != "any":
            if kind.patients == "new" and not patient_is_new:
                return "invalid", f"{type_id} is for new patients"
            if kind.patients == "existing" and patient_is_new:
                return "invalid", f"{type_id} is for existing patients"
    if ends_at is None:
        return "invalid", "ends_at is needed for an appointment type without a configured duration"
    if ends_at <= starts_at:
        return "invalid", "ends_at must be after starts_at"
    rules = rules_for(clinic, provider, kind, ends_at - starts_at)
    window = Interval(starts_at, ends_at)
    return BookingPlan(window, rules.blocked(window), rules, provider.availability is not None)


# --- lifecycle -----------------------------------------------------------------------------------


def is_late_cancellation(starts_at: datetime, cancelled_at: datetime, late_cancel_hours: int = 24) -> bool:
    """Cancelled less than `late_cancel_hours` before the start (elapsed time)."""
    return starts_at - cancelled_at < timedelta(hours=late_cancel_hours)


@dataclass(frozen=True)
class Offset:
    """A reminder offset split as RFC 5545 and ISO 8601 read a duration: `days` nominal (calendar) days,
    `elapsed` exact time."""

    days: int
    elapsed: timedelta


@functools.cache  # a clinic's few offsets, parsed for every booking otherwise
def parse_offset(offset: str) -> Offset:
    match = REMINDER_OFFSET.match(offset)
    if not match or offset in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {offset!r}")
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    return Offset(days=7 * weeks + days, elapsed=timedelta(hours=hours, minutes=minutes))


def reminder_due_at(starts_at: datetime, offset: str, zone: ZoneInfo) -> datetime:
    """When the reminder `offset` before `starts_at` is due. Weeks and days count in the calendar of
    `zone`, the one the appointment is kept in: P2D before 09:00 is 09:00 two days earlier, across a
    DST change too. Hours and minutes then count elapsed time: PT2H is two hours before.

    A wall time that does not exist that day (the clocks sprang forward over it) is read with the UTC
    offset before the gap, and one that occurs twice (they fell back) is its first occurrence, as
    RFC 5545 reads a DTSTART; either way the reminder is at most the DST shift off the wall time."""
    parts = parse_offset(offset)
    start = starts_at.astimezone(UTC)
    if parts.days:
        wall = start.astimezone(zone).replace(tzinfo=None, fold=0) - timedelta(days=parts.days)
        start = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: before the gap, first of the repeat
    return start - parts.elapsed


def reminder_schedule(
    starts_at: datetime, offsets: list[str], now: datetime, zone: ZoneInfo
) -> list[tuple[str, datetime]]:
    """(offset, due_at) for each reminder still in the future, earliest first. A reminder whose moment
    has passed (booked two hours before a 7-day reminder would fire) is skipped, not sent late."""
    out = []
    for offset in offsets:
        due = reminder_due_at(starts_at, offset, zone)
        if due > now:
            out.append((offset, due))
    return sorted(out, key=lambda item: item[1])


def reminder_id(appointment_id: str, offset: str, starts_at: datetime) -> str:
    """Stable per appointment, offset and start: a rescheduled appointment gets fresh reminder ids."""
    return f"rem-{appointment_id}-{offset}-{starts_at.strftime('%Y%m%dT%H%MZ')}"


# Lifecycle commands: which statuses each may start from, and the status it leads to.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "confirm": (frozenset({"pending"}), "booked"),
    "cancel": (frozenset({"pending", "booked", "arrived", "checked-in"}), "cancelled"),
    "reschedule": (frozenset({"pending", "booked"}), "booked"),
    "check_in": (frozenset({"booked", "arrived"}), "checked-in"),
    "no_show": (frozenset({"booked"}), "noshow"),
    "left_without_visit": (frozenset({"arrived", "checked-in"}), "noshow"),
    "complete": (frozenset({"booked", "arrived", "checked-in"}), "fulfilled"),
}


def transition(command: str, status: str) -> str | None:
    """The status `command` leads to from `status`, or None if it is not allowed from there."""
    sources, target = TRANSITIONS[command]
    return target if status in sources else None


__all__ = [
    "ACTIVE",
    "STATUSES",
    "TRANSITIONS",
    "BookingPlan",
    "Interval",
    "Offset",
    "SlotRules",
    "appointment_id_for",
    "exception_intervals",
    "find_provider",
    "find_type",
    "is_late_cancellation",
    "offers_type",
    "parse_offset",
    "plan_booking",
    "reminder_due_at",
    "reminder_id",
    "reminder_schedule",
    "rules_for",
    "transition",
    "validation_problem",
]
