"""Phone calls: events of the call-router and the phone section of a clinic's configuration.

Shared topics carry ids and tokens only: never names, phone numbers or clinical text.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .base import Event, Id, Section, Timestamp

CallIntent = Literal["new_patient", "appointment", "prescription", "billing", "results", "urgent", "other"]
RouteTargetKind = Literal["receptionist", "pool", "sister_clinic", "answering_service", "on_call"]


class PhoneSection(Section):
    """What the call-router needs (grown by the call-router issue)."""

    ring_seconds: float = Field(6.0, gt=0, le=30)
    rings: int = Field(3, ge=1, le=10)
    front_desk_pool: Id = "front-desk"
    answering_service: Id

    @property
    def ring_budget_seconds(self) -> float:
        return self.ring_seconds * self.rings


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


class CallbackRequested(Event):
    """A caller needs calling back (abandoned call, vendor message): followup makes it a staff task."""

    event_type: ClassVar[str] = "callback.requested"
    key_field: ClassVar[str] = "clinic_id"

    callback_id: Id = Field(description="Deduplicated per caller and clinic while one is open.")
    clinic_id: Id
    caller_token: Id
    patient_id: Id | None = None
    reason: Literal["abandoned_call", "vendor_message", "missed_offer"]
    urgency: Literal["routine", "urgent"] = "routine"
    requested_at: Timestamp


EVENTS: tuple[type[Event], ...] = (CallReceived, CallRouted, CallbackRequested)
__all__ = ["CallIntent", "CallReceived", "CallRouted", "CallbackRequested", "PhoneSection", "RouteTargetKind"]
