"""The first event contracts. One model per event type; the type is also the topic's name.

Shared topics carry ids and tokens only: never names, phone numbers or clinical text.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import Event, Id, Timestamp

CallIntent = Literal["new_patient", "appointment", "prescription", "billing", "results", "urgent", "other"]
RouteTargetKind = Literal["receptionist", "pool", "sister_clinic", "answering_service", "on_call"]


class CallReceived(Event):
    """The phone system (or a vendor) saw a call arrive at a clinic."""

    event_type: ClassVar[str] = "call.received"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    received_at: Timestamp
    caller_token: Id = Field(description="An opaque token for the caller, never a phone number.")
    intent: CallIntent = "other"
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    patient_id: Id | None = None


class CallRouted(Event):
    """Where the router sent a call. The target is always a live human, never voicemail."""

    event_type: ClassVar[str] = "call.routed"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    target_kind: RouteTargetKind
    target_id: Id
    reason: str = Field(max_length=200)
    answer_by: Timestamp
    attempt: int = Field(1, ge=1)


class _Window(Event):
    starts_at: Timestamp
    ends_at: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AppointmentRequested(_Window):
    """Someone (a call, a vendor, the web) asks for a specific appointment."""

    event_type: ClassVar[str] = "appointment.requested"
    key_field: ClassVar[str] = "patient_id"

    request_id: Id = Field(description="Idempotency key: the same request books at most once.")
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id


class AppointmentBooked(_Window):
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


class FollowupScheduled(Event):
    event_type: ClassVar[str] = "followup.scheduled"
    key_field: ClassVar[str] = "patient_id"

    followup_id: Id
    patient_id: Id
    clinic_id: Id
    kind: Literal["reminder", "check_in", "recall", "no_show", "callback"]
    due_at: Timestamp
    visit_id: Id | None = None


class ReviewRequested(Event):
    event_type: ClassVar[str] = "review.requested"
    key_field: ClassVar[str] = "patient_id"

    review_request_id: Id
    visit_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    send_at: Timestamp
