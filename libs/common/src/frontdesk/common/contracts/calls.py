"""Phone calls: the events of a call, from call.received to call.ended, and of receptionists' presence.

Shared topics carry ids and tokens only: never names, phone numbers or clinical text.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from ..sealing import Keyring, SealedField
from .base import Event, Id, Section, Timestamp
from .phone import (
    _LANGUAGE,
    AgentStatus,
    CallIntent,
    NetworkFallback,
    RouteTargetKind,
)


class NetworkConfigured(Event):
    """The network-wide settings of the call-router (today: the fallback for unknown clinics). One
    document, on a compacted topic, keyed by `network_id` (always "network": the latest record is the
    configuration); `fallback: null` removes the fallback."""

    event_type: ClassVar[str] = "network.configured"
    key_field: ClassVar[str] = "network_id"
    partitions: ClassVar[int] = 1
    compacted: ClassVar[bool] = True

    network_id: Literal["network"] = "network"
    fallback: NetworkFallback | None = None


class CallReceived(Event):
    """The phone system (or a vendor) saw a call arrive at a clinic."""

    event_type: ClassVar[str] = "call.received"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    received_at: Timestamp
    caller_token: Id = Field(description="An opaque token for the caller, never a phone number.")
    intent: CallIntent = "other"
    language: str | None = Field(None, pattern=_LANGUAGE)
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


class CallOffered(Event):
    """One offer: the target rings for `ring_timeout_seconds`; then the router moves on."""

    event_type: ClassVar[str] = "call.offered"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    target_kind: RouteTargetKind
    target_id: Id
    pool_id: Id | None = None
    ring_timeout_seconds: float = Field(gt=0)
    offered_at: Timestamp
    attempt: int = Field(ge=1)


DeclineReason = Literal["busy", "declined", "unavailable"]


class CallDeclined(Event):
    """An offer refused before its ring timeout: every target of the attempt answered busy (SIP 486/600),
    declined (603) or could not ring (any other failure). The router moves on at once, as at the offer's
    timeout, but nobody is paused for it (the desk is in use, not absent)."""

    event_type: ClassVar[str] = "call.declined"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    attempt: int = Field(ge=1, description="The attempt of the call.offered refused")
    reason: DeclineReason
    declined_at: Timestamp


class CallOverflowed(Event):
    """A call handed to an answering-service vendor (after hours, budget running out, urgent, failover)."""

    event_type: ClassVar[str] = "call.overflowed"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    vendor_id: Id
    reason: str = Field(max_length=200)
    overflowed_at: Timestamp
    answer_by: Timestamp
    caller_token: Id
    intent: CallIntent = "other"
    language: str | None = Field(None, pattern=_LANGUAGE)
    patient_id: Id | None = None
    attempt: int = Field(1, ge=1)
    callback: SealedField | None = Field(
        None,
        description="The caller's E.164 number, sealed for this vendor: AES-256-GCM under its key `kid`, with AAD"
        " the UTF-8 of '<vendor_id>\\ncall.overflowed/<clinic_id>/<call_id>'. Only on the vendor's own topic;"
        " null on the shared call.overflowed",
    )

    def callback_aad(self) -> str:
        """What `callback` is bound to: this call of this clinic (the vendor id is the recipient)."""
        return f"call.overflowed/{self.clinic_id}/{self.call_id}"

    def callback_number(self, keyring: Keyring) -> str | None:
        """For the vendor: the caller's number, opened with its own keys (None when none was sent)."""
        return None if self.callback is None else keyring.open(self.vendor_id, self.callback, self.callback_aad())


class CallWithdrawn(Event):
    """The router takes back a call it handed to this vendor: another answered it first, or the caller
    hung up. Only on the vendor's own topic `vendor.<vendor_id>.calls`, so that its operator does not
    pick up a dead line. An answer the vendor reports after it is recorded, never counted."""

    event_type: ClassVar[str] = "call.withdrawn"
    key_field: ClassVar[str] = "clinic_id"
    shared_topic: ClassVar[bool] = False

    call_id: Id
    clinic_id: Id
    vendor_id: Id
    reason: Literal["answered_elsewhere", "abandoned"]
    withdrawn_at: Timestamp


class CallAnswered(Event):
    """A live human picked up (from the phone system or the vendor)."""

    event_type: ClassVar[str] = "call.answered"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    answered_at: Timestamp
    answered_by_kind: RouteTargetKind
    answered_by_id: Id


class CallAbandoned(Event):
    """The caller hung up before anyone answered."""

    event_type: ClassVar[str] = "call.abandoned"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    abandoned_at: Timestamp


class CallEnded(Event):
    """An answered call finished (handle time = ended_at - answered_at)."""

    event_type: ClassVar[str] = "call.ended"
    key_field: ClassVar[str] = "clinic_id"

    call_id: Id
    clinic_id: Id
    ended_at: Timestamp


class AgentStatusChanged(Event):
    """A receptionist's presence changed (from the phone system or a desk app)."""

    event_type: ClassVar[str] = "agent.status_changed"
    key_field: ClassVar[str] = "clinic_id"

    clinic_id: Id
    receptionist_id: Id
    status: AgentStatus
    changed_at: Timestamp

    def changed_by(self, heard_at: datetime) -> datetime:
        """When the change counts as made: `changed_at`, but never after it was heard. The latest change
        wins wherever presence is kept, so one from a clock running ahead (a desk phone set to next
        year) would otherwise outrank every real change until that time: a receptionist stuck away,
        or rung while gone."""
        return min(self.changed_at, heard_at)


class AgentAutoPaused(Event):
    """The router paused a receptionist who missed an offer (the desk app should show it)."""

    event_type: ClassVar[str] = "agent.auto_paused"
    key_field: ClassVar[str] = "clinic_id"

    clinic_id: Id
    receptionist_id: Id
    call_id: Id
    paused_at: Timestamp
    reason: Literal["missed_offer"] = "missed_offer"


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


class StaffingHour(Section):
    """Erlang C result for one local hour of the week."""

    weekday: int = Field(ge=0, le=6, description="0 = Monday, in the clinic's time zone")
    hour: int = Field(ge=0, le=23)
    arrivals_per_hour: float = Field(ge=0)
    aht_seconds: float = Field(ge=0)
    agents: int = Field(ge=0, description="Receptionists on the phones (Erlang C)")
    scheduled: int = Field(ge=0, description="agents / (1 - shrinkage), rounded up")
    service_level: float = Field(ge=0, le=1)


class StaffingForecast(Event):
    """How many receptionists each hour of the week needs to meet the service-level target."""

    event_type: ClassVar[str] = "staffing.forecast"
    key_field: ClassVar[str] = "clinic_id"

    forecast_id: Id
    clinic_id: Id
    generated_at: Timestamp
    weeks: int = Field(ge=1, le=52, description="Weeks of history the forecast averages")
    target_service_level: float = Field(gt=0, lt=1)
    target_seconds: float = Field(gt=0)
    shrinkage: float = Field(ge=0, lt=1)
    hours: list[StaffingHour] = Field(max_length=168)


EVENTS: tuple[type[Event], ...] = (
    NetworkConfigured,
    CallReceived,
    CallRouted,
    CallbackRequested,
    CallOffered,
    CallDeclined,
    CallOverflowed,
    CallWithdrawn,
    CallAnswered,
    CallAbandoned,
    CallEnded,
    AgentStatusChanged,
    AgentAutoPaused,
    StaffingForecast,
)
__all__ = [
    "AgentAutoPaused",
    "AgentStatusChanged",
    "CallAbandoned",
    "CallAnswered",
    "CallDeclined",
    "CallEnded",
    "CallOffered",
    "CallOverflowed",
    "CallReceived",
    "CallRouted",
    "CallWithdrawn",
    "CallbackRequested",
    "DeclineReason",
    "NetworkConfigured",
    "StaffingForecast",
    "StaffingHour",
]
