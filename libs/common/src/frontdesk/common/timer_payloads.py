"""Timer payloads: one pydantic model per timer kind, registered as the event contracts are.

A timer's kind is its model's `kind`: `uow.set_timer(key, due_at, payload)` stores the payload's
JSON under it, and the timer worker parses a due row back into that model before its handler runs
(a payload that no longer parses fails the timer: retried, then parked). The kinds and the JSON field
names are what rows already stored carry, so they keep firing: renaming either needs a migration of
the stored rows. One style: a model is named after its kind, in CamelCase, with `Timer` at the end
(`hold_expiry` -> HoldExpiryTimer, `review.send` -> ReviewSendTimer); tests/unit/test_timer_payloads.py
checks it. Timers are private to the service that sets them; the models live here, next to the
contracts, so that every kind has one home and one spelling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, PlainSerializer, model_validator

from .contracts import BookingCodeRequested, BookingLinkRequested

# An instant with its offset, written as datetime.isoformat() writes it ("+00:00", not pydantic's "Z"):
# the text rows held before the models, which tests and operators match on.
StoredTime = Annotated[AwareDatetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]


class TimerPayload(BaseModel):
    """Base of the timer payloads: frozen, and a field nobody declared is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]


# --- call-router ---------------------------------------------------------------------------------


class RingTimeoutTimer(TimerPayload):
    """An offer rang out unanswered (attempt: the routing attempt it belongs to)."""

    kind: ClassVar[str] = "ring_timeout"
    call_id: str
    clinic_id: str
    attempt: int


class VendorAnswerTimer(TimerPayload):
    """A vendor's own answer target for a call handed to it."""

    kind: ClassVar[str] = "vendor_answer"
    call_id: str
    clinic_id: str
    vendor_id: str
    attempt: int


class VendorHedgeTimer(TimerPayload):
    """The latest moment the other vendor can still answer the call in time."""

    kind: ClassVar[str] = "vendor_hedge"
    call_id: str
    clinic_id: str
    vendor_id: str  # the other vendor, to be offered the call too


class VendorTopicsTimer(TimerPayload):
    """Create the vendors' missing topics (`vendor_ids`: those whose topics predate vendor.<id>.events)."""

    kind: ClassVar[str] = "vendor_topics"
    vendor_ids: tuple[str, ...] = ()


class AwaitingClinicTimer(TimerPayload):
    """Handle the events that waited for this clinic's configuration (frontdesk.common.awaiting)."""

    kind: ClassVar[str] = "awaiting_clinic"
    clinic_id: str


class OncallPageTimer(TimerPayload):
    """The next page of an urgent vendor message or urgent call (exactly one of the two ids)."""

    kind: ClassVar[str] = "oncall_page"
    clinic_id: str
    message_id: str | None = None
    call_id: str | None = None
    at: StoredTime  # when this page is due by the schedule, so a late timer neither skips nor repeats one

    @model_validator(mode="after")
    def _one_subject(self) -> OncallPageTimer:
        if (self.message_id is None) == (self.call_id is None):
            raise ValueError("a page is for a message or for a call")
        return self


class DigestReleaseTimer(TimerPayload):
    """A clinic opens: release its digest of routine messages."""

    kind: ClassVar[str] = "digest_release"
    digest_id: str
    clinic_id: str


class CallersPruneTimer(TimerPayload):
    """Forget the callers' numbers kept past their retention (one timer per expiry day)."""

    kind: ClassVar[str] = "callers_prune"


# --- scheduler -----------------------------------------------------------------------------------


class HoldExpiryTimer(TimerPayload):
    kind: ClassVar[str] = "hold_expiry"
    appointment_id: str


class ReminderTimer(TimerPayload):
    """A reminder of the appointment as it started when the reminder was set (a moved one has new ones)."""

    kind: ClassVar[str] = "reminder"
    appointment_id: str
    offset: str  # the clinic's reminder offset, e.g. "P1D"
    starts_at: StoredTime


class Hl7HeldTimer(TimerPayload):
    """Apply the HL7 messages held until this clinic's configuration arrived (scheduler/hl7_held.py)."""

    kind: ClassVar[str] = "hl7_held"
    clinic_id: str


class OfferExpiryTimer(TimerPayload):
    kind: ClassVar[str] = "offer_expiry"
    batch_id: str


class RescheduleWindowTimer(TimerPayload):
    kind: ClassVar[str] = "reschedule_window"
    reschedule_id: str


# --- followup ------------------------------------------------------------------------------------


class SendMessageTimer(TimerPayload):
    kind: ClassVar[str] = "send_message"
    message_request_id: str


class CallbackEscalateTimer(TimerPayload):
    kind: ClassVar[str] = "callback_escalate"
    callback_id: str


class BookingCodeRetryTimer(TimerPayload):
    """A booking code's next try after a transient failure; the event rests here, sealed."""

    kind: ClassVar[str] = "booking_code_retry"
    event: BookingCodeRequested
    attempt: int


class BookingLinkSendTimer(TimerPayload):
    """A booking link's deferred text or next try; the event rests here, sealed."""

    kind: ClassVar[str] = "booking_link_send"
    event: BookingLinkRequested
    seq: int
    failures: int


# --- reviews -------------------------------------------------------------------------------------


class ReviewSendTimer(TimerPayload):
    kind: ClassVar[str] = "review.send"
    review_request_id: str


class ReviewRecoveryDeadlineTimer(TimerPayload):
    kind: ClassVar[str] = "review.recovery_deadline"
    task_id: str


class ReputationWeeklyTimer(TimerPayload):
    kind: ClassVar[str] = "reputation.weekly"


ALL_TIMER_PAYLOADS: tuple[type[TimerPayload], ...] = (
    AwaitingClinicTimer,
    RingTimeoutTimer,
    VendorAnswerTimer,
    VendorHedgeTimer,
    VendorTopicsTimer,
    OncallPageTimer,
    DigestReleaseTimer,
    CallersPruneTimer,
    HoldExpiryTimer,
    ReminderTimer,
    Hl7HeldTimer,
    OfferExpiryTimer,
    RescheduleWindowTimer,
    SendMessageTimer,
    CallbackEscalateTimer,
    BookingCodeRetryTimer,
    BookingLinkSendTimer,
    ReviewSendTimer,
    ReviewRecoveryDeadlineTimer,
    ReputationWeeklyTimer,
)
# Every timer kind -> its payload model. A new kind is a model above, added to ALL_TIMER_PAYLOADS.
TIMER_PAYLOADS: dict[str, type[TimerPayload]] = {model.kind: model for model in ALL_TIMER_PAYLOADS}
