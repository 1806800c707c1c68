"""An appointment as scheduler stores it (an `appointments` row), and the events built from one.

Each event about an appointment is built here, from the stored appointment, so the same event says
the same thing wherever it is emitted (appointment.booked: on booking, on a confirmed hold, and again
for a repeated request).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentHeld,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    VisitCompleted,
)

from .slots import Interval

# What the API answers about an appointment (Result.body); the stored row has more (GET /v1/appointments).
_ANSWERED = (
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


@dataclass(frozen=True, slots=True)
class Appointment:
    """An `appointments` row: every column (a new one has none of the facts that come later)."""

    appointment_id: str
    request_id: str
    patient_id: str
    clinic_id: str
    provider_id: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    blocked_from: datetime  # the window with the type's buffers: what the calendar keeps free
    blocked_until: datetime
    status: str  # a FHIR Appointment.status (domain/booking.py: STATUSES)
    source: str  # http, event, hl7, waitlist, web
    hold_expires_at: datetime | None = None
    external_id: str | None = None  # the EHR's id (HL7)
    status_reason: str | None = None
    confirmed_at: datetime | None = None
    checked_in_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    visit_id: str | None = None
    created_at: datetime | None = None  # None: as the booking statement wrote it, not read back
    updated_at: datetime | None = None

    @property
    def window(self) -> Interval:
        return Interval(self.starts_at, self.ends_at)

    def as_json(self) -> dict[str, Any]:
        """What a command answers about the appointment (times as ISO 8601 text)."""
        out: dict[str, Any] = {}
        for key in _ANSWERED:
            value = getattr(self, key)
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def columns(self) -> dict[str, Any]:
        """Every column by name (GET /v1/appointments/{id})."""
        return asdict(self)


# --- the events ----------------------------------------------------------------------------------


class _Ids(TypedDict):
    """What every lifecycle event says about the appointment."""

    appointment_id: str
    patient_id: str
    clinic_id: str
    provider_id: str


def _ids(a: Appointment) -> _Ids:
    return _Ids(
        appointment_id=a.appointment_id, patient_id=a.patient_id, clinic_id=a.clinic_id, provider_id=a.provider_id
    )


def booked(a: Appointment) -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id=a.appointment_id,
        request_id=a.request_id,
        patient_id=a.patient_id,
        clinic_id=a.clinic_id,
        provider_id=a.provider_id,
        appointment_type=a.appointment_type,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
    )


def held(a: Appointment, at: datetime) -> AppointmentHeld:
    assert a.hold_expires_at is not None
    return AppointmentHeld(
        appointment_id=a.appointment_id,
        clinic_id=a.clinic_id,
        provider_id=a.provider_id,
        appointment_type=a.appointment_type,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        held_at=at,
        expires_at=a.hold_expires_at,
    )


def cancelled(
    a: Appointment, at: datetime, *, late: bool, by: Literal["patient", "clinic", "system"]
) -> AppointmentCancelled:
    return AppointmentCancelled(**_ids(a), starts_at=a.starts_at, cancelled_at=at, late=late, by=by)


def checked_in(a: Appointment, at: datetime) -> AppointmentCheckedIn:
    return AppointmentCheckedIn(**_ids(a), checked_in_at=at)


def no_show(a: Appointment, kind: Literal["no_show", "left_without_visit"]) -> AppointmentNoShow:
    return AppointmentNoShow(**_ids(a), starts_at=a.starts_at, kind=kind)


def completed(a: Appointment, visit_id: str, at: datetime) -> VisitCompleted:
    return VisitCompleted(**_ids(a), visit_id=visit_id, visit_type=a.appointment_type, completed_at=at)


def rescheduled(
    before: Appointment, moved: Appointment, handled_by: Literal["patient", "reminder_link"] | None
) -> AppointmentRescheduled:
    return AppointmentRescheduled(
        **_ids(moved),
        previous_starts_at=before.starts_at,
        starts_at=moved.starts_at,
        ends_at=moved.ends_at,
        handled_by=handled_by,
    )


def reminder_due(a: Appointment, reminder_id: str, offset: str, reschedule_id: str) -> AppointmentReminderDue:
    return AppointmentReminderDue(
        **_ids(a),
        reminder_id=reminder_id,
        starts_at=a.starts_at,
        offset=offset,
        reschedule_id=reschedule_id,
    )
