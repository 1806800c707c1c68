"""A call's life as one state machine: which input is accepted in which state, and what follows.

`transition(call, input)` is pure: it returns the call's next state and the effects the handlers
carry out (write, cancel, withdraw, replay, route). States, as `calls.status` stores them:

    (no row)     NONE         an outcome that overtook its call (another topic) is kept until it arrives
    received     RECEIVED     the row just stored ('ringing', attempt 0), routed in the same transaction
    unrouted     UNROUTED     an unknown clinic and no network fallback: held, offered to nobody
    offered,     RINGING      offered to receptionists, a sister desk or on call; a ring timer runs
      ringing
    handed off   WITH_VENDOR  held by one vendor or more (hedge, failover); an answer deadline runs
    answered     ANSWERED     the first answer won; every other holder is withdrawn
    abandoned    ABANDONED    the caller hung up first (final)
    ended        ENDED        answered, then hung up (final)

"Withdrawn" is not a state of the call but of a vendor that held it (call_withdrawals): once the call
is answered elsewhere or abandoned, an answer that vendor reports is recorded, never counted.

Rules: the first outcome wins (an answered call is never abandoned; a second answer changes
nothing); a timer acts only on the step that set it (the ring timeout of its attempt, the deadline
of a vendor still holding the call); a call.ended before its call.answered is kept and replayed when
the answer comes; outcomes that overtook the call are replayed when it arrives, an answer before an
abandon.

Still decided inside SQL (functions.sql), for one round trip per hot path, with the same rules as
here (the next step is to pass the decision in, or to have these functions return the row and write
after `transition`):
- call_router_answer: records the answer only if the status is ringing or with_vendor (WAITING),
  under the clinic's lock; the handler then consults `transition` on the row as it was, for
  everything that follows (withdrawals, late answers, the kept call.ended).
- call_router_ring_timeout: acts only if the call rings in the timer's attempt.
- call_router_vendor_deadline: acts only if the call is with_vendor and the vendor holds it.
- call_router_receive: takes the kept answered/abandoned outcomes of a new call.
The statement-by-statement paths (no cached configuration) decide here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from frontdesk.common import rows
from frontdesk.common.rows import Columns


class Status(StrEnum):
    NONE = "none"  # no row: never stored in calls.status
    RECEIVED = "received"  # stored as 'ringing' with attempt 0
    UNROUTED = "unrouted"
    RINGING = "ringing"
    WITH_VENDOR = "with_vendor"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    ENDED = "ended"


WAITING = frozenset({Status.RECEIVED, Status.RINGING, Status.WITH_VENDOR})  # someone may still answer
FINAL = frozenset({Status.ABANDONED, Status.ENDED})
ANSWERED, ABANDONED, ENDED = "call.answered", "call.abandoned", "call.ended"  # outcomes kept early


@dataclass(frozen=True)
class Call:
    status: Status
    attempt: int = 0  # routes made so far
    holders: tuple[str, ...] = ()  # vendors the call was handed to, in order
    answered_by: tuple[str, str] | None = None  # (kind, id)
    early: frozenset[str] = frozenset()  # outcomes kept before they could apply

    @property
    def withdrawn(self) -> frozenset[str]:
        """The holders told the call is gone: all of them once abandoned, all but the answerer once
        answered."""
        if self.status == Status.ABANDONED:
            return frozenset(self.holders)
        if self.status in (Status.ANSWERED, Status.ENDED):
            return frozenset(self.holders) - {_answering_vendor(self.answered_by)}
        return frozenset()


def _answering_vendor(answered_by: tuple[str, str] | None) -> str | None:
    return answered_by[1] if answered_by is not None and answered_by[0] == "answering_service" else None


@dataclass(frozen=True, slots=True)
class StoredCall:
    """A call as the router stored it (a `calls` row: the columns the router acts on)."""

    call_id: str
    clinic_id: str
    received_at: datetime
    status: str
    attempt: int  # routes made so far (0: received, not routed yet)
    tried: tuple[str, ...]  # offer keys already made: receptionist ids, pool:/sister:/vendor: keys
    vendor_id: str | None  # the vendor it was handed to last
    ringing: tuple[str, ...]  # receptionists ringing for it now
    offer_keys: tuple[str, ...]  # the current offer's keys (tried once it rings out)
    offer_pool: str | None
    answer_by: datetime
    intent: str
    language: str | None
    caller_token: str | None
    patient_id: str | None
    answered_at: datetime | None
    answered_by_kind: str | None
    answered_by_id: str | None

    @classmethod
    def of(cls, row: Columns) -> StoredCall:
        """From a `calls` row; its arrays (lists as asyncpg reads them) as tuples."""
        return rows.from_row(cls, row, **{array: tuple(row[array] or ()) for array in _ARRAYS})


_ARRAYS = ("tried", "ringing", "offer_keys")  # the text[] columns


def from_row(row: StoredCall | None, early: frozenset[str] = frozenset()) -> Call:
    """The lifecycle view of a stored call (None: not stored)."""
    if row is None:
        return Call(Status.NONE, early=early)
    status = Status(row.status)
    if status == Status.RINGING and row.attempt == 0:
        status = Status.RECEIVED
    kind, by = row.answered_by_kind, row.answered_by_id
    return Call(status, row.attempt, holders_of(row), (kind, by) if kind and by else None, early)


def page_carriers(call: Call) -> tuple[str, ...]:
    """The vendors that deliver an urgent call's pages to the on-call provider: the vendor that
    answered it, once one has; else every vendor the call was handed to. Any one of them may be the
    silent one, and a vendor told the call is withdrawn (another answered) no longer has the caller;
    a page delivered twice beats one that waits in a silent vendor's queue."""
    answerer = _answering_vendor(call.answered_by)
    return (answerer,) if answerer is not None else call.holders


def holders_of(row: StoredCall) -> tuple[str, ...]:
    """The vendors a stored call was handed to: the earlier ones are in `tried`, the latest is
    `vendor_id`."""
    earlier = [t.removeprefix("vendor:") for t in row.tried if t.startswith("vendor:")]
    return tuple(dict.fromkeys([*earlier, *([row.vendor_id] if row.vendor_id else [])]))


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """call.received."""


@dataclass(frozen=True)
class Unrouted:
    """No configuration for the clinic and no network fallback: hold the call."""


@dataclass(frozen=True)
class Offered:
    """A route made: the call rings (receptionists, a sister desk, on call)."""

    attempt: int


@dataclass(frozen=True)
class HandedOff:
    """A route made: a vendor holds the call (first hand-over, failover or hedge)."""

    vendor: str
    attempt: int


@dataclass(frozen=True)
class RingTimeout:
    attempt: int  # the attempt whose offer set the timer


@dataclass(frozen=True)
class Declined:
    """call.declined: every target of this attempt refused the offer before its ring timeout."""

    attempt: int


@dataclass(frozen=True)
class VendorDeadline:
    vendor: str


@dataclass(frozen=True)
class HedgeDue:
    """The latest moment the other vendor can still answer in time."""


@dataclass(frozen=True)
class Answered:
    kind: str
    by: str
    sender: str | None = None  # the vendor whose own topic carried it; None: the phone system


@dataclass(frozen=True)
class Abandoned:
    """call.abandoned: the caller hung up."""


@dataclass(frozen=True)
class Ended:
    """call.ended: an answered call is over."""


Input = (
    Received
    | Unrouted
    | Offered
    | HandedOff
    | RingTimeout
    | Declined
    | VendorDeadline
    | HedgeDue
    | Answered
    | Abandoned
    | Ended
)


# --- effects --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignore:
    why: str


@dataclass(frozen=True)
class KeepEarly:
    """Store the outcome until it can apply (early_outcomes)."""

    outcome: str


@dataclass(frozen=True)
class ReplayEarly:
    outcome: str


@dataclass(frozen=True)
class Route:
    """Decide the call's next step (domain.decide)."""

    missed: bool


@dataclass(frozen=True)
class Hold:
    """Store the call unrouted."""


@dataclass(frozen=True)
class RecordOffer:
    attempt: int


@dataclass(frozen=True)
class RecordHandOff:
    vendor: str
    attempt: int


@dataclass(frozen=True)
class RecordMissed:
    """Release who rang, count the miss, auto-pause them (by pool)."""


@dataclass(frozen=True)
class FailOver:
    """Mark the vendor failed; hand the call to the other vendor if it has not had it."""

    vendor: str


@dataclass(frozen=True)
class Hedge:
    """Offer the call to the other vendor too."""


@dataclass(frozen=True)
class RecordAnswer:
    kind: str
    by: str


@dataclass(frozen=True)
class CancelTimers:
    attempt: int  # the ring and vendor timers of this attempt
    hedge: bool  # and the pending hedge


@dataclass(frozen=True)
class ReleaseRinging:
    """Whoever still rings for the call rings no more."""


@dataclass(frozen=True)
class Withdraw:
    vendors: tuple[str, ...]
    reason: str  # answered_elsewhere | abandoned


@dataclass(frozen=True)
class RecordLateAnswer:
    vendor: str


@dataclass(frozen=True)
class RecordAbandon:
    """Mark the call abandoned and offer the caller a callback."""


@dataclass(frozen=True)
class RecordEnd:
    idle_receptionist: str | None  # the receptionist who answered is idle from the end


Effect = (
    Ignore
    | KeepEarly
    | ReplayEarly
    | Route
    | Hold
    | RecordOffer
    | RecordHandOff
    | RecordMissed
    | FailOver
    | Hedge
    | RecordAnswer
    | CancelTimers
    | ReleaseRinging
    | Withdraw
    | RecordLateAnswer
    | RecordAbandon
    | RecordEnd
)


@dataclass(frozen=True)
class Step:
    call: Call
    effects: tuple[Effect, ...] = field(default_factory=tuple)

    @property
    def accepted(self) -> bool:
        return not any(isinstance(e, Ignore) for e in self.effects)


def _ignore(call: Call, why: str) -> Step:
    return Step(call, (Ignore(why),))


def transition(call: Call, event: Input) -> Step:
    """The call's next state and what to do, for one input."""
    match event:
        case Received():
            return _received(call)
        case Answered():
            return _answered(call, event)
        case Abandoned():
            return _abandoned(call)
        case Ended():
            return _ended(call)
        case _:
            return _routing(call, event)


def _received(call: Call) -> Step:
    if call.status != Status.NONE:
        return _ignore(call, "the call is already stored")
    new = Call(Status.RECEIVED, early=call.early - {ANSWERED, ABANDONED})
    if ANSWERED in call.early:
        return Step(new, (ReplayEarly(ANSWERED),))
    if ABANDONED in call.early:
        return Step(new, (ReplayEarly(ABANDONED),))
    return Step(new, (Route(missed=False),))


def _routing(call: Call, event: Input) -> Step:
    """Routes made and the timers they set: each acts only on the step that set it."""
    match event:
        case Unrouted() if call.status == Status.RECEIVED:
            return Step(replace(call, status=Status.UNROUTED), (Hold(),))
        case Offered(attempt) if call.status in (Status.RECEIVED, Status.UNROUTED, Status.RINGING):
            return Step(replace(call, status=Status.RINGING, attempt=attempt), (RecordOffer(attempt),))
        case HandedOff(vendor, attempt) if call.status in WAITING | {Status.UNROUTED}:
            holders = tuple(dict.fromkeys([*call.holders, vendor]))
            new = replace(call, status=Status.WITH_VENDOR, attempt=attempt, holders=holders)
            return Step(new, (RecordHandOff(vendor, attempt),))
        case RingTimeout(attempt) if call.status == Status.RINGING and attempt == call.attempt:
            return Step(call, (RecordMissed(), Route(missed=True)))
        case Declined(attempt) if call.status == Status.RINGING and attempt == call.attempt:
            # Moves on as a ring timeout does, at once; a busy desk is not missed (nobody is paused).
            return Step(call, (CancelTimers(attempt, hedge=False), ReleaseRinging(), Route(missed=True)))
        case VendorDeadline(vendor) if call.status == Status.WITH_VENDOR and vendor in call.holders:
            return Step(call, (FailOver(vendor),))
        case HedgeDue() if call.status == Status.WITH_VENDOR:
            return Step(call, (Hedge(),))
    return _ignore(call, f"{type(event).__name__} does not apply to a call {call.status} (attempt {call.attempt})")


def _answered(call: Call, event: Answered) -> Step:
    if call.status == Status.NONE:
        return Step(replace(call, early=call.early | {ANSWERED}), (KeepEarly(ANSWERED),))
    if call.status not in WAITING:
        # the first outcome won; a withdrawn vendor's answer is recorded, never counted
        if event.sender is not None and event.sender in call.withdrawn:
            return Step(call, (RecordLateAnswer(event.sender),))
        return _ignore(call, f"the call is {call.status}")
    answerer = event.by if event.kind == "answering_service" else None
    new = replace(call, status=Status.ANSWERED, answered_by=(event.kind, event.by), early=call.early - {ENDED})
    effects: list[Effect] = [
        RecordAnswer(event.kind, event.by),
        CancelTimers(call.attempt, hedge=call.status == Status.WITH_VENDOR),
        ReleaseRinging(),
    ]
    others = tuple(v for v in call.holders if v != answerer)
    if others:
        effects.append(Withdraw(others, "answered_elsewhere"))
    if ENDED in call.early:
        effects.append(ReplayEarly(ENDED))
    return Step(new, tuple(effects))


def _abandoned(call: Call) -> Step:
    if call.status == Status.NONE:
        return Step(replace(call, early=call.early | {ABANDONED}), (KeepEarly(ABANDONED),))
    if call.status not in WAITING | {Status.UNROUTED}:
        return _ignore(call, f"the call is {call.status}")
    effects: list[Effect] = [
        RecordAbandon(),
        CancelTimers(call.attempt, hedge=call.status == Status.WITH_VENDOR),
        ReleaseRinging(),
    ]
    if call.holders:
        effects.append(Withdraw(call.holders, "abandoned"))
    return Step(replace(call, status=Status.ABANDONED), tuple(effects))


def _ended(call: Call) -> Step:
    if call.status == Status.NONE or call.status in WAITING:  # its answer has not been seen yet
        return Step(replace(call, early=call.early | {ENDED}), (KeepEarly(ENDED),))
    if call.status != Status.ANSWERED:
        return _ignore(call, f"the call is {call.status}")
    assert call.answered_by is not None
    kind, by = call.answered_by
    return Step(replace(call, status=Status.ENDED), (RecordEnd(by if kind == "receptionist" else None),))
