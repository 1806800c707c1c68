"""Follow-up: planned reminders, check-ins, recalls and callbacks, and the messaging section.

Shared topics carry ids only: the patient's contact details, the text of a reply and the rendered
message stay in followup's own database.
"""

from __future__ import annotations

from datetime import time
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from .base import Event, Id, Section, Timestamp

FollowupKind = Literal["reminder", "check_in", "recall", "no_show", "callback"]
# US states with stricter calling/texting hours than the federal 8 AM - 9 PM (domain.md section 3).
StateCode = Literal[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
]  # fmt: skip


class MessagingSection(Section):
    """What followup needs to contact a clinic's patients."""

    sender_name: str | None = Field(
        None,
        min_length=1,
        max_length=30,
        description="How the practice is named in SMS (<= 30 characters); defaults to the clinic name.",
    )
    state: StateCode | None = Field(None, description="US state whose quiet-hour rule applies by default.")
    quiet_hours_start: time | None = Field(None, description="A stricter clinic-wide earliest send time.")
    quiet_hours_end: time | None = Field(None, description="A stricter clinic-wide latest send time.")
    check_in_time: time = time(10, 0)
    no_show_time: time = Field(time(18, 0), description="Local time of the same-evening no-show outreach.")
    recall_months: int = Field(6, ge=1, le=36)
    daily_message_limit: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="At most this many messages to the clinic's patients per local day (SMS spend); more wait"
        " for the next day, or are skipped (frequency_cap) if they would expire first.",
    )
    callback_target_minutes: int = Field(60, ge=5, le=7 * 24 * 60)
    urgent_callback_target_minutes: int = Field(15, ge=1, le=24 * 60)
    care_templates: dict[Id, Id] = Field(
        default_factory=dict, description="visit_type -> check-in template (default check-in-general)."
    )
    waitlist_taken_notice: bool = Field(
        False,
        description="Tell a waitlisted patient by SMS when a slot they were offered went to someone else"
        " (otherwise they learn it only if they open the offer's link).",
    )
    link_base: str = Field("https://frontdesk.example/p", max_length=40, pattern=r"^https://[^\s]+$")
    short_link_base: str = Field(
        "https://fdsk.example/l",
        max_length=22,
        pattern=r"^https://[^\s]*[^/\s]$",
        description="Where followup's short links (GET /l/{code}) are served; long links in SMS become these.",
    )

    @field_validator("sender_name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("sender_name must be printable text")
        return value


class _FollowupFact(Event):
    key_field: ClassVar[str] = "patient_id"

    followup_id: Id
    patient_id: Id
    clinic_id: Id
    kind: FollowupKind


class FollowupScheduled(Event):
    event_type: ClassVar[str] = "followup.scheduled"
    key_field: ClassVar[str] = "patient_id"

    followup_id: Id
    patient_id: Id
    clinic_id: Id
    kind: FollowupKind
    due_at: Timestamp
    visit_id: Id | None = None
    appointment_id: Id | None = None
    callback_id: Id | None = None


class FollowupSent(_FollowupFact):
    event_type: ClassVar[str] = "followup.sent"

    message_request_id: Id
    channel: Literal["sms", "email"]
    sent_at: Timestamp


class FollowupFailed(_FollowupFact):
    """A planned message could not be delivered (or may not be: consent, cap, no contact details)."""

    event_type: ClassVar[str] = "followup.failed"

    message_request_id: Id | None = None
    reason: str = Field(max_length=64, pattern=r"^[a-z_]+$")
    failed_at: Timestamp


class FollowupCancelled(_FollowupFact):
    event_type: ClassVar[str] = "followup.cancelled"

    reason: Literal["appointment_cancelled", "appointment_rescheduled", "appointment_booked", "stale", "superseded"]
    cancelled_at: Timestamp


class FollowupEscalated(Event):
    """Something needs a person: an overdue callback, or a reply that looks like a clinical concern.

    The reply's text never leaves followup: staff read it from followup's worklist by `task_id`."""

    event_type: ClassVar[str] = "followup.escalated"
    key_field: ClassVar[str] = "clinic_id"

    task_id: Id
    clinic_id: Id
    patient_id: Id | None = None
    reason: Literal["callback_overdue", "clinical_concern", "unrecognised_reply"]
    urgency: Literal["routine", "urgent"] = "routine"
    escalated_at: Timestamp


class CallbackCompleted(Event):
    """Staff marked a callback done (in followup's worklist): it leaves every worklist. Who did it
    stays in followup's database."""

    event_type: ClassVar[str] = "callback.completed"
    key_field: ClassVar[str] = "clinic_id"

    callback_id: Id
    clinic_id: Id
    completed_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    FollowupScheduled,
    FollowupSent,
    FollowupFailed,
    FollowupCancelled,
    FollowupEscalated,
    CallbackCompleted,
)
__all__ = [
    "CallbackCompleted",
    "FollowupCancelled",
    "FollowupEscalated",
    "FollowupFailed",
    "FollowupKind",
    "FollowupScheduled",
    "FollowupSent",
    "MessagingSection",
    "StateCode",
]
