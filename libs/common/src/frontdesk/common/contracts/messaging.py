"""Messaging: how services ask followup to contact a patient, and what came of it.

followup is the only service that contacts patients, so consent, quiet hours and frequency caps are
decided in one place. A requester sends `message.requested` and gets exactly one `message.sent` or
`message.skipped` back for that request (matched by `message_request_id`, addressed by
`requested_by`). Payloads carry ids, template names and non-personal variables (times, links), never
names, phone numbers or clinical text.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .base import Event, Id, Timestamp

Purpose = Literal["treatment", "feedback", "marketing"]
Channel = Literal["sms", "email"]
SkipReason = Literal[
    "no_consent",
    "opted_out",
    "frequency_cap",
    "no_contact_details",
    "template_unknown",
    "expired",
    "permanent_failure",
    # added by the followup issue
    "unknown_clinic",
    "template_invalid",
    "cancelled",
]


class MessageRequested(Event):
    event_type: ClassVar[str] = "message.requested"
    key_field: ClassVar[str] = "patient_id"

    message_request_id: Id = Field(description="Idempotency key: one message at most per request.")
    requested_by: Id = Field(description="The requesting service, e.g. reviews.")
    patient_id: Id
    clinic_id: Id
    purpose: Purpose
    template: Id
    variables: dict[str, str] = Field(default_factory=dict, description="Non-personal values only.")
    not_before: Timestamp | None = None
    expires_at: Timestamp | None = Field(None, description="Skip (reason expired) if it cannot go out by then.")


class MessageSent(Event):
    event_type: ClassVar[str] = "message.sent"
    key_field: ClassVar[str] = "patient_id"

    message_request_id: Id
    requested_by: Id
    patient_id: Id
    clinic_id: Id
    channel: Channel
    sent_at: Timestamp


class MessageSkipped(Event):
    event_type: ClassVar[str] = "message.skipped"
    key_field: ClassVar[str] = "patient_id"

    message_request_id: Id
    requested_by: Id
    patient_id: Id
    clinic_id: Id
    reason: SkipReason
    detail: str = Field("", max_length=300)


class ContactPreferenceChanged(Event):
    """A patient opted out (STOP, ...) or back in (START) for a purpose; every service obeys it."""

    event_type: ClassVar[str] = "contact.preference_changed"
    key_field: ClassVar[str] = "patient_id"

    patient_id: Id
    purpose: Purpose
    opted_in: bool
    channel: Channel | None = None
    changed_at: Timestamp
    source: Literal["reply", "staff", "import"] = "reply"


EVENTS: tuple[type[Event], ...] = (MessageRequested, MessageSent, MessageSkipped, ContactPreferenceChanged)
__all__ = [
    "Channel",
    "ContactPreferenceChanged",
    "MessageRequested",
    "MessageSent",
    "MessageSkipped",
    "Purpose",
    "SkipReason",
]
