"""Messaging: how services ask followup to contact a patient, and what came of it.

followup is the only service that contacts patients, so consent, quiet hours and frequency caps are
decided in one place. A requester sends `message.requested` and gets exactly one `message.sent` or
`message.skipped` back for that request (matched by `message_request_id`, addressed by
`requested_by`). Payloads carry ids, template names and non-personal variables (times, links), never
names, phone numbers or clinical text.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar, Literal

from pydantic import Field

from ..sealing import Keyring, SealedField
from .base import Event, Id, Timestamp

# The recipient (in FRONTDESK_SEALING_KEYS) of what the scheduler's booking page seals for followup: the
# scheduler holds only this recipient's keys (to seal), followup the same (to open); nobody else does.
BOOKING_CODES_RECIPIENT = "booking-codes"
# A phone number, E.164: "+", the country code, at most 15 digits in all and no spaces. The shortest
# numbering plans have 7 (Niue, +683 4002). Every API and every sealed number checks this one.
E164 = r"^\+[1-9][0-9]{6,14}$"

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
    source: Literal["reply", "staff", "import", "self_service"] = Field(
        "reply", description="self_service: the patient proved the number with a booking page's one-time code"
    )


def booking_code_aad(clinic_id: str, verification_id: str) -> str:
    """What a sealed booking code is bound to: this attempt at this clinic."""
    return f"booking.code_requested/{clinic_id}/{verification_id}"


class BookingCodeRequested(Event):
    """Someone on a clinic's booking page holds a slot and asks for the one-time code that confirms it.

    The number they typed and the code are sealed for followup (AES-256-GCM, recipient
    BOOKING_CODES_RECIPIENT, AAD `booking.code_requested/<clinic_id>/<verification_id>`): no patient is
    known yet, and neither the number nor the code may travel readable on a shared topic. followup
    opens it, sends the code through its channel (an opted-out number gets nothing) and keeps neither.
    """

    event_type: ClassVar[str] = "booking.code_requested"
    key_field: ClassVar[str] = "verification_id"

    verification_id: Id = Field(description="The scheduler's opaque id of the booking attempt (one code each)")
    clinic_id: Id
    expires_at: Timestamp = Field(description="The code expires with the hold: not sent after this")
    sealed: SealedField = Field(description='JSON {"phone": E.164, "code": digits}, sealed for followup')

    def aad(self) -> str:
        return booking_code_aad(self.clinic_id, self.verification_id)

    def open(self, keyring: Keyring) -> tuple[str, str]:
        """For followup: (phone, code). Raises SealingError when it does not open, ValueError when the
        content is not what the scheduler seals."""
        content = json.loads(keyring.open(BOOKING_CODES_RECIPIENT, self.sealed, self.aad()))
        phone, code = content.get("phone"), content.get("code")
        if not isinstance(phone, str) or not isinstance(code, str) or not code.isdigit():
            raise ValueError("a sealed booking code without a phone and a code")
        return phone, code


def booking_link_aad(clinic_id: str, link_id: str) -> str:
    """What a sealed caller's number is bound to: this booking link of this clinic."""
    return f"booking.link_requested/{clinic_id}/{link_id}"


class BookingLinkRequested(Event):
    """The answering service or the callback flow asked the scheduler (its authorized booking-links API)
    to text a booking link to a caller. The link row is the scheduler's (single use, `expires_at`); the
    caller's number is sealed for followup (AES-256-GCM, recipient BOOKING_CODES_RECIPIENT, AAD
    `booking.link_requested/<clinic_id>/<link_id>`), never readable on the topic. followup signs the
    link, and texts it under the contact rules (an opted-out number gets nothing; quiet hours, the caps
    per number and the clinic's daily limit as for every message; not after the link expires)."""

    event_type: ClassVar[str] = "booking.link_requested"
    key_field: ClassVar[str] = "link_id"

    link_id: Id = Field(description="The scheduler's opaque id of the booking link (one text each)")
    clinic_id: Id
    expires_at: Timestamp = Field(description="The link expires then: not texted after it")
    requested_at: Timestamp
    sealed: SealedField = Field(description='JSON {"phone": E.164}, sealed for followup')

    def aad(self) -> str:
        return booking_link_aad(self.clinic_id, self.link_id)

    def open(self, keyring: Keyring) -> str:
        """For followup: the caller's number (E.164). Raises SealingError when it does not open,
        ValueError when the content is not what the scheduler seals."""
        phone = json.loads(keyring.open(BOOKING_CODES_RECIPIENT, self.sealed, self.aad())).get("phone")
        if not isinstance(phone, str) or not re.fullmatch(E164, phone):
            raise ValueError("a sealed booking link without an E.164 number")
        return phone


def booking_contact_aad(clinic_id: str, verification_id: str, patient_id: str) -> str:
    """What a verified number is bound to: this attempt at this clinic, and the patient it booked."""
    return f"booking.contact_verified/{clinic_id}/{verification_id}/{patient_id}"


class BookingContactVerified(Event):
    """A booking from a clinic's booking page was confirmed with its one-time code: the number the code
    went to is the patient's (they typed the code it carried), and they asked to be booked.

    followup's evidence to text them about their care (consent source `self_service_verified`): it
    records the number as the patient's contact unless another number is on file, and never overrides
    an opt-out. The number is sealed for followup exactly as the code was (recipient
    BOOKING_CODES_RECIPIENT), bound by the AAD `booking.contact_verified/<clinic_id>/<verification_id>/
    <patient_id>` to this attempt and this patient, so it cannot be replayed onto another.
    """

    event_type: ClassVar[str] = "booking.contact_verified"
    key_field: ClassVar[str] = "patient_id"

    verification_id: Id = Field(description="The booking attempt whose code was confirmed (one event each)")
    clinic_id: Id
    patient_id: Id
    appointment_id: Id
    registered_by: list[Id] = Field(
        default_factory=list,
        description="The clinics that registered the patient with the scheduler (the page's clinic for a new"
        " patient): followup records the same ones if it has none, so they, and only they, manage the contact",
    )
    verified_at: Timestamp
    sealed: SealedField = Field(description='JSON {"phone": E.164}, sealed for followup')

    def aad(self) -> str:
        return booking_contact_aad(self.clinic_id, self.verification_id, self.patient_id)

    def open(self, keyring: Keyring) -> str:
        """For followup: the verified number (E.164). Raises SealingError when it does not open,
        ValueError when the content is not what the scheduler seals."""
        phone = json.loads(keyring.open(BOOKING_CODES_RECIPIENT, self.sealed, self.aad())).get("phone")
        if not isinstance(phone, str) or not re.fullmatch(E164, phone):
            raise ValueError("a sealed booking contact without an E.164 number")
        return phone


# Why a booking code could not be texted, as the booking page may learn it (never the number, and never
# whether the number opted out: that would tell anyone who types a number whether it is a patient's).
CodeFailure = Literal["undeliverable", "provider_unavailable", "clinic_limit", "expired", "not_configured"]


class BookingCodeFailed(Event):
    """followup could not text a booking page's one-time code: the page tells the person at once
    (check the number, or call the practice) instead of leaving them waiting, and the scheduler
    releases the hold. Not sent for a number that opted out (STOP): see CodeFailure."""

    event_type: ClassVar[str] = "booking.code_failed"
    key_field: ClassVar[str] = "verification_id"

    verification_id: Id
    clinic_id: Id
    reason: CodeFailure = Field(
        description="undeliverable: the provider refused the number or reported it undelivered; provider_unavailable:"
        " the provider kept failing; clinic_limit: the clinic's daily message limit; expired: too late for the"
        " hold; not_configured: the clinic or the sealing is not set up"
    )
    failed_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    MessageRequested,
    MessageSent,
    MessageSkipped,
    ContactPreferenceChanged,
    BookingCodeRequested,
    BookingContactVerified,
    BookingCodeFailed,
    BookingLinkRequested,
)
__all__ = [
    "BOOKING_CODES_RECIPIENT",
    "BookingCodeFailed",
    "BookingCodeRequested",
    "BookingContactVerified",
    "BookingLinkRequested",
    "Channel",
    "CodeFailure",
    "ContactPreferenceChanged",
    "MessageRequested",
    "MessageSent",
    "MessageSkipped",
    "Purpose",
    "SkipReason",
    "booking_code_aad",
    "booking_contact_aad",
    "booking_link_aad",
]
