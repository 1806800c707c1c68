"""Scheduling: booking requests, appointments and visits, and the providers of a clinic."""

from __future__ import annotations

import re
from datetime import time
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from . import clock
from .base import Event, Id, Section, Timestamp, Window

SchedulingWeekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# A reminder offset: an ISO 8601 duration of weeks (alone), or days and/or hours and minutes. Groups:
# weeks, days, hours, minutes. The date part is counted in the calendar, the time part in elapsed time
# (the scheduler's domain/booking.py: reminder_due_at).
REMINDER_OFFSET = re.compile(r"^P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?)$")


def _zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder name ("America") with tzdata installed
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class AvailabilityInterval(Section):
    """One bookable interval of a weekday, provider-local wall-clock time, half-open [starts, ends).
    Ends 24:00 (or 00:00) is the midnight that ends the day: 00:00-24:00 is the whole day."""

    starts: time
    ends: time

    @field_validator("ends", mode="before")
    @classmethod
    def _end_of_day(cls, value: object) -> object:
        return clock.end_of_day(value)

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityInterval:
        clock.check_order(self.starts, self.ends, ("starts", "ends"))
        return self

    @classmethod
    def parse(cls, text: str) -> AvailabilityInterval:
        starts, ends = clock.parse_range(text, "availability interval")
        return cls(starts=starts, ends=ends)


class AvailabilityException(Section):
    """Time a provider cannot be booked: a vacation, a meeting, blocked time. Absolute instants."""

    starts_at: Timestamp
    ends_at: Timestamp
    kind: Literal["vacation", "blocked", "other"] = "blocked"

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityException:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Location(Section):
    location_id: Id
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _zone(value)


class AppointmentType(Section):
    """What can be booked: how long it lasts, who may book it, and the time it needs around it."""

    type_id: Id
    label: str | None = Field(None, max_length=60, description="How the patients' booking page names it")
    duration_minutes: int = Field(ge=5, le=480)
    patients: Literal["any", "new", "existing"] = "any"
    buffer_before_minutes: int = Field(0, ge=0, le=240)
    buffer_after_minutes: int = Field(0, ge=0, le=240)
    min_notice_minutes: int = Field(0, ge=0, le=60 * 24 * 60)


def _parse_template(value: object) -> object:
    # YAML writes templates as {"mon": ["08:00-12:00", "13:00-17:00"]}; accept that short form.
    if isinstance(value, dict):
        return {
            day: [AvailabilityInterval.parse(i) if isinstance(i, str) else i for i in intervals or []]
            for day, intervals in value.items()
        }
    return value


class SchedulingSection(Section):
    """What the scheduler needs beyond the provider list: appointment types, grid, holds, reminders."""

    appointment_types: list[AppointmentType] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    slot_step_minutes: int = Field(15, ge=5, le=240)
    hold_ttl_seconds: int = Field(300, ge=10, le=3600)
    late_cancel_hours: int = Field(24, ge=0, le=24 * 14)
    reminder_offsets: list[str] = Field(
        default_factory=lambda: ["P7D", "P2D", "PT2H"],
        description="ISO 8601 durations before the start at which appointment.reminder_due fires: weeks and"
        " days in the calendar of the provider's zone (P2D: the same wall-clock time two days earlier, across a"
        " DST change too), hours and minutes in elapsed time (PT2H: two hours before)",
    )
    # HL7 v2 codes -> our ids (AIP-3/PV1-7 provider codes, AIS-3 service codes); unmapped codes are
    # used as they are.
    hl7_providers: dict[str, Id] = Field(default_factory=dict)
    hl7_services: dict[str, Id] = Field(default_factory=dict)
    waitlist_batch_size: int = Field(3, ge=1, le=50)
    waitlist_offer_ttl_seconds: int = Field(900, ge=30, le=86400)
    reschedule_self_service_hours: int = Field(
        24,
        ge=1,
        le=24 * 14,
        description="How long a patient who asked to reschedule may pick a new time on their page (never past the"
        " appointment's start); then it becomes a staff task",
    )
    reschedule_staff_hours: int = Field(
        4, ge=1, le=24 * 14, description="The staff task's deadline after it opens (never past the appointment)"
    )
    online_booking: Literal["off", "link", "public"] = Field(
        "off",
        description="The patients' booking page: off; only through a signed booking link (issued to a caller by"
        " the answering service or the callback flow); or also public at /p/clinics/<clinic_id>/book",
    )

    @field_validator("reminder_offsets")
    @classmethod
    def _offsets(cls, value: list[str]) -> list[str]:
        for offset in value:
            if not REMINDER_OFFSET.match(offset) or offset in ("P", "PT"):
                raise ValueError(f"reminder offset {offset!r} is not an ISO 8601 duration like P1W, P2D or PT2H")
        return value

    @model_validator(mode="after")
    def _unique_types(self) -> SchedulingSection:
        ids = [t.type_id for t in self.appointment_types]
        if len(ids) != len(set(ids)):
            raise ValueError("appointment type ids must be unique")
        return self


class Provider(Section):
    provider_id: Id
    display_name: str | None = Field(None, max_length=60, description="How the patients' booking page names them")
    timezone: str | None = None
    location_id: Id | None = None
    # Weekly template, provider-local time. None: no template of their own (slot search uses the
    # clinic's hours; explicit windows are not checked against a template).
    availability: dict[SchedulingWeekday, list[AvailabilityInterval]] | None = None
    exceptions: list[AvailabilityException] = Field(default_factory=list)
    appointment_types: list[Id] = Field(default_factory=list, description="Bookable types; empty = all")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return _zone(value)

    @field_validator("availability", mode="before")
    @classmethod
    def _short_form(cls, value: object) -> object:
        return _parse_template(value)


class SlotWindow(Section):
    """A proposed alternative: a free window of the same length."""

    starts_at: Timestamp
    ends_at: Timestamp


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


class AppointmentHeld(Window):
    """A slot is held (FHIR Appointment pending) until `expires_at`: confirmed, it becomes
    appointment.booked with the same appointment id; not confirmed by then, it lapses (no event).
    No patient: the staff console shows holds about to expire per provider."""

    event_type: ClassVar[str] = "appointment.held"
    key_field: ClassVar[str] = "clinic_id"

    appointment_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id
    held_at: Timestamp
    expires_at: Timestamp


class Hl7Quarantined(Event):
    """An HL7 v2 message from an EHR was quarantined for staff review (answered AE, nothing applied:
    an update for an appointment not known, a discharge matching no visit). Its sender, control id,
    type and reason only: the message itself stays in the scheduler's database."""

    event_type: ClassVar[str] = "hl7.quarantined"
    key_field: ClassVar[str] = "clinic_id"

    clinic_id: Id
    sending_facility: str = Field(min_length=1, max_length=200)
    control_id: str = Field(min_length=1, max_length=200)
    message_type: str = Field(min_length=1, max_length=20)  # e.g. "SIU^S13"
    reason: str = Field(max_length=500)
    received_at: Timestamp


class AppointmentRejected(Event):
    event_type: ClassVar[str] = "appointment.rejected"
    key_field: ClassVar[str] = "patient_id"

    request_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    reason: Literal[
        "slot_taken",
        "unknown_clinic",
        "unknown_provider",
        "invalid",
        "unknown_appointment_type",
        "unavailable",
        "too_soon",
    ]
    detail: str = Field("", max_length=300)
    alternatives: list[SlotWindow] = Field(default_factory=list, max_length=10)


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
    handled_by: Literal["patient", "reminder_link"] | None = Field(
        None,
        description="Set when the patient moved it on their reschedule page: after a '3' reply (patient) or from"
        " a reminder's link (reminder_link). None for a move by the clinic, the EHR or the API.",
    )


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
    reschedule_id: Id | None = Field(
        None,
        description="The appointment's reminder link to the reschedule page (the scheduler's opaque request id,"
        " open until starts_at): followup signs it into the reminder's link. None: a reminder without one",
    )


class AppointmentReplyReceived(_AppointmentFact):
    """A patient answered a reminder (1 confirm, 2 cancel, 3 reschedule), relayed by followup."""

    event_type: ClassVar[str] = "appointment.reply_received"

    reply: Literal["confirm", "cancel", "reschedule"]
    received_at: Timestamp


class WaitlistOffered(Window):
    """A freed slot is offered to a waitlisted patient; the first to accept gets it (via a hold)."""

    event_type: ClassVar[str] = "waitlist.offer"
    key_field: ClassVar[str] = "patient_id"

    offer_id: Id
    waitlist_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id
    expires_at: Timestamp


class WaitlistOfferClosed(Event):
    """An offer is over: accepted by this patient, taken by someone else, or expired."""

    event_type: ClassVar[str] = "waitlist.offer_closed"
    key_field: ClassVar[str] = "patient_id"

    offer_id: Id
    waitlist_id: Id
    patient_id: Id
    clinic_id: Id
    outcome: Literal["accepted", "taken", "expired"]
    appointment_id: Id | None = None


class RescheduleRequested(Event):
    """A patient asked to move an appointment (a "3" reply): followup sends them a link to a page with the
    next open times, usable until expires_at; after that the request is a staff task."""

    event_type: ClassVar[str] = "appointment.reschedule_requested"
    key_field: ClassVar[str] = "patient_id"

    reschedule_id: Id
    appointment_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    starts_at: Timestamp = Field(description="The appointment's current start")
    expires_at: Timestamp


class RescheduleTaskOpened(Event):
    """The patient did not pick a new time within the clinic's window: staff must reschedule by due_at."""

    event_type: ClassVar[str] = "appointment.reschedule_task"
    key_field: ClassVar[str] = "patient_id"

    reschedule_id: Id
    appointment_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    starts_at: Timestamp
    opened_at: Timestamp
    due_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    AppointmentRequested,
    AppointmentBooked,
    AppointmentHeld,
    AppointmentRejected,
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentReplyReceived,
    VisitCompleted,
    WaitlistOffered,
    WaitlistOfferClosed,
    RescheduleRequested,
    RescheduleTaskOpened,
    Hl7Quarantined,
)
__all__ = [
    "REMINDER_OFFSET",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentCheckedIn",
    "AppointmentHeld",
    "AppointmentNoShow",
    "AppointmentRejected",
    "AppointmentReminderDue",
    "AppointmentReplyReceived",
    "AppointmentRequested",
    "AppointmentRescheduled",
    "AppointmentType",
    "AvailabilityException",
    "AvailabilityInterval",
    "Hl7Quarantined",
    "Location",
    "Provider",
    "RescheduleRequested",
    "RescheduleTaskOpened",
    "SchedulingSection",
    "SlotWindow",
    "VisitCompleted",
    "WaitlistOfferClosed",
    "WaitlistOffered",
]
