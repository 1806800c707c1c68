"""Answering-service vendors' messages and pages: what vendors publish on their own topic
`vendor.<vendor_id>.events` only (no shared topic), and what the router pages and releases for them.

The router checks that the vendor named is the topic's, that it serves the clinic and that the call or
message is its own before acting. Codes and ids only: the message's words stay with the vendor and the
clinic's systems, never on a topic.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import Event, Id, Timestamp, Window
from .phone import PageChannel

MessageUrgency = Literal["routine", "urgent"]
MessageCategory = Literal[
    "refill", "appointment", "results", "billing", "clinical_question", "referral", "records", "other"
]


class VendorMessageTaken(Event):
    """A vendor's operator took a message (protocol triage: urgent vs routine)."""

    event_type: ClassVar[str] = "answering.message_taken"
    key_field: ClassVar[str] = "clinic_id"
    shared_topic: ClassVar[bool] = False

    message_id: Id = Field(description="The vendor's id for the message; the router acts on it once.")
    vendor_id: Id
    clinic_id: Id
    call_id: Id | None = Field(None, description="The call it was taken on, if the router handed it over.")
    caller_token: Id = Field(description="An opaque token for the caller, never a phone number.")
    patient_id: Id | None = None
    urgency: MessageUrgency
    category: MessageCategory
    callback_needed: bool = False
    taken_at: Timestamp


class VendorAppointmentRequested(Window):
    """A vendor's operator asks for an appointment for a caller. The router checks that the vendor
    serves the clinic, then passes it on as `appointment.requested` (request id prefixed with the
    vendor's id); a refusal is dead-lettered with its reason. Vendors never write shared topics."""

    event_type: ClassVar[str] = "answering.appointment_requested"
    key_field: ClassVar[str] = "clinic_id"
    shared_topic: ClassVar[bool] = False

    request_id: Id = Field(description="The vendor's idempotency key: the same request books at most once.")
    vendor_id: Id
    clinic_id: Id
    patient_id: Id
    provider_id: Id
    appointment_type: Id


class VendorPageSent(Event):
    """The vendor paged a provider for an urgent message (after an oncall.page_requested)."""

    event_type: ClassVar[str] = "answering.page_sent"
    key_field: ClassVar[str] = "clinic_id"
    shared_topic: ClassVar[bool] = False

    page_id: Id
    message_id: Id
    vendor_id: Id
    clinic_id: Id
    provider_id: Id
    sent_at: Timestamp


class VendorPageAcknowledged(Event):
    """The paged provider acknowledged: escalation stops.

    Names what was paged for: an urgent message (`message_id`) or an urgent call (`call_id`), exactly
    one. An urgent call's paging is acknowledged only by this event, from a vendor the call was
    handed to (the vendor that delivers its pages); the call being answered does not stop it, since
    whoever answered is not the provider."""

    event_type: ClassVar[str] = "answering.page_acknowledged"
    key_field: ClassVar[str] = "clinic_id"
    shared_topic: ClassVar[bool] = False

    message_id: Id | None = None
    call_id: Id | None = None
    vendor_id: Id
    clinic_id: Id
    provider_id: Id
    acknowledged_at: Timestamp

    @model_validator(mode="after")
    def _one_subject(self) -> VendorPageAcknowledged:
        _exactly_one_subject(self.message_id, self.call_id)
        return self


class VendorHeartbeat(Event):
    """A vendor is alive; none for `heartbeat_timeout_seconds` (once one was seen) = unhealthy."""

    event_type: ClassVar[str] = "answering.heartbeat"
    key_field: ClassVar[str] = "vendor_id"
    shared_topic: ClassVar[bool] = False

    vendor_id: Id
    sent_at: Timestamp


def _exactly_one_subject(message_id: str | None, call_id: str | None) -> None:
    if (message_id is None) == (call_id is None):
        raise ValueError("name exactly one of message_id (an urgent message) and call_id (an urgent call)")


class OnCallPageRequested(Event):
    """Page this provider now (an urgent message, or an urgent call): resent / escalated along the
    roster until acknowledged (answering.page_acknowledged naming the same message or call).

    Also published on the vendor's own topic `vendor.<vendor_id>.calls`: the vendor delivers it."""

    event_type: ClassVar[str] = "oncall.page_requested"
    key_field: ClassVar[str] = "clinic_id"

    page_id: Id = Field(description="<message_id>:<step>:<resend>, or call:<call_id>:<step>:<resend>; unique per page")
    message_id: Id | None = Field(None, description="The urgent message paged for (or call_id)")
    call_id: Id | None = Field(None, description="The urgent call paged for (or message_id)")
    clinic_id: Id
    vendor_id: Id
    provider_id: Id
    channel: PageChannel = "pager"
    step: int = Field(ge=0, description="Roster step (0 = first on call)")
    resend: int = Field(ge=0, description="0 = first page of this step")
    escalated: bool = Field(description="True for the first page of a step after the first")
    requested_at: Timestamp

    @model_validator(mode="after")
    def _one_subject(self) -> OnCallPageRequested:
        _exactly_one_subject(self.message_id, self.call_id)
        return self


class MessageDigestReleased(Event):
    """The routine messages taken while the clinic was closed, delivered when it opens."""

    event_type: ClassVar[str] = "answering.digest_released"
    key_field: ClassVar[str] = "clinic_id"

    digest_id: Id
    clinic_id: Id
    message_ids: list[Id] = Field(max_length=5000)
    released_at: Timestamp


class MessageAcknowledged(Event):
    """A staff member acknowledged a routine message of a released digest."""

    event_type: ClassVar[str] = "answering.message_acknowledged"
    key_field: ClassVar[str] = "clinic_id"

    message_id: Id
    digest_id: Id
    clinic_id: Id
    staff_id: Id
    acknowledged_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    VendorMessageTaken,
    VendorAppointmentRequested,
    VendorPageSent,
    VendorPageAcknowledged,
    VendorHeartbeat,
    OnCallPageRequested,
    MessageDigestReleased,
    MessageAcknowledged,
)
__all__ = [
    "MessageAcknowledged",
    "MessageCategory",
    "MessageDigestReleased",
    "MessageUrgency",
    "OnCallPageRequested",
    "VendorAppointmentRequested",
    "VendorHeartbeat",
    "VendorMessageTaken",
    "VendorPageAcknowledged",
    "VendorPageSent",
]
