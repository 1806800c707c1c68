"""Scheduling: booking requests, appointments and visits, and the providers of a clinic."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .base import Event, Id, Section, Timestamp, Window


class SchedulingSection(Section):
    """What the scheduler needs beyond the provider list (grown by the scheduler issue)."""


class Provider(Section):
    provider_id: Id
    timezone: str | None = None


class AppointmentRequested(Window):
    """Someone (a call, a vendor, the web) asks for a specific appointment."""

    event_type: ClassVar[str] = "appointment.requested"
    key_field: ClassVar[str] = "patient_id"

    request_id: Id = Field(description="Idempotency key: the same request books at most once.")
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id


class AppointmentBooked(Window):
    event_type: ClassVar[str] = "appointment.booked"
    key_field: ClassVar[str] = "patient_id"

    appointment_id: Id
    request_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id


class AppointmentRejected(Event):
    event_type: ClassVar[str] = "appointment.rejected"
    key_field: ClassVar[str] = "patient_id"

    request_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    reason: Literal["slot_taken", "unknown_clinic", "unknown_provider", "invalid"]
    detail: str = Field("", max_length=300)


class VisitCompleted(Event):
    """The encounter finished (FHIR Encounter.status=finished, HL7 ADT^A03). Emitted once."""

    event_type: ClassVar[str] = "visit.completed"
    key_field: ClassVar[str] = "patient_id"

    visit_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_id: Id | None = None
    visit_type: Id = "general"
    completed_at: Timestamp


class _AppointmentFact(Event):
    """Fields every appointment lifecycle event carries."""

    key_field: ClassVar[str] = "patient_id"

    appointment_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id


class AppointmentCancelled(_AppointmentFact):
    event_type: ClassVar[str] = "appointment.cancelled"

    starts_at: Timestamp
    cancelled_at: Timestamp
    late: bool = Field(description="Cancelled less than 24 hours before the start.")
    by: Literal["patient", "clinic", "system"] = "patient"


class AppointmentRescheduled(_AppointmentFact):
    event_type: ClassVar[str] = "appointment.rescheduled"

    previous_starts_at: Timestamp
    starts_at: Timestamp
    ends_at: Timestamp


class AppointmentCheckedIn(_AppointmentFact):
    event_type: ClassVar[str] = "appointment.checked_in"

    checked_in_at: Timestamp


class AppointmentNoShow(_AppointmentFact):
    event_type: ClassVar[str] = "appointment.no_show"

    starts_at: Timestamp
    kind: Literal["no_show", "left_without_visit"] = "no_show"


class AppointmentReminderDue(_AppointmentFact):
    """A reminder timer fired: followup decides whether and when the patient may be contacted."""

    event_type: ClassVar[str] = "appointment.reminder_due"

    reminder_id: Id = Field(description="Unique per appointment and offset; stable across redelivery.")
    starts_at: Timestamp
    offset: str = Field(pattern=r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$", description="ISO 8601 duration before start")


class AppointmentReplyReceived(_AppointmentFact):
    """A patient answered a reminder (1 confirm, 2 cancel, 3 reschedule), relayed by followup."""

    event_type: ClassVar[str] = "appointment.reply_received"

    reply: Literal["confirm", "cancel", "reschedule"]
    received_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    AppointmentRequested,
    AppointmentBooked,
    AppointmentRejected,
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentReplyReceived,
    VisitCompleted,
)
__all__ = [
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentCheckedIn",
    "AppointmentNoShow",
    "AppointmentRejected",
    "AppointmentReminderDue",
    "AppointmentReplyReceived",
    "AppointmentRequested",
    "AppointmentRescheduled",
    "Provider",
    "SchedulingSection",
    "VisitCompleted",
]
