"""What the SIP proxy should ring next for one call, and for how long: pure, from the router's decisions.

The router decides (call.offered to a desk for `ring_timeout_seconds`, call.overflowed to a vendor,
a second call.overflowed to the other vendor when hedging); the proxy rings. Each time the proxy
asks, the bridge answers with the latest decision it has not handed over yet:

- a desk offer rings until the router's own timeout for it (offered_at + ring_timeout), so the
  proxy cancels it when the router moves on, never later;
- every vendor holding the call rings at once (the first answer wins), until the moment the router
  may give the call to another vendor (its hedge or failover moment), then all of them again;
- nothing new yet: wait for the router; the call over: hang up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from frontdesk.common.contracts import DeclineReason, RouteTargetKind

from .directory import Directory

MIN_RING_SECONDS = 1.0  # a branch shorter than this would be cancelled before the phone rang once
VENDOR_RING_SECONDS = 120.0  # a vendor nobody can replace rings until it answers (the proxy's limit)
# A ring that failed this close to its end is its timeout (the proxy's timer fires up to ~60 ms early),
# not a refusal: the router's own ring timeout moves the call on.
REFUSAL_MARGIN = timedelta(seconds=0.25)
Outcome = Literal["ringing", "answered", "abandoned", "ended"]


def call_id_for(sip_call_id: str) -> str:
    """Frontdesk's call id for a SIP Call-ID: stable, a valid Id, and not the Call-ID itself (which
    may carry a host name or a number)."""
    return "sip-" + hashlib.sha256(sip_call_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Target:
    kind: RouteTargetKind
    target_id: str


@dataclass(frozen=True)
class DeskOffer:
    """call.offered: one desk target rings until `ring_until` (ring_all: several share an attempt)."""

    target: Target
    attempt: int
    ring_until: datetime


@dataclass(frozen=True)
class VendorHandover:
    """call.overflowed: the vendor holds the call, to answer by its answer target."""

    vendor_id: str
    overflowed_at: datetime
    answer_by: datetime


Decision = DeskOffer | VendorHandover


@dataclass(frozen=True)
class Ring:
    """Ring these URIs at once for `timeout_seconds` (first answer wins)."""

    branches: tuple[tuple[str, Target], ...]
    timeout_seconds: float

    @property
    def uris(self) -> tuple[str, ...]:
        return tuple(uri for uri, _ in self.branches)


@dataclass(frozen=True)
class Wait:
    """The router has not decided anything new yet."""


@dataclass(frozen=True)
class Hangup:
    """Nothing more to ring: the call was answered, abandoned or ended."""

    reason: str


@dataclass(frozen=True)
class Fallback:
    """Nothing the bridge knows can be rung (a number no clinic has yet: its configuration is late; a
    clinic without a SIP address for anyone): the proxy's network fallback answering service takes
    the call, so the caller still reaches a human."""

    reason: str


Next = Ring | Wait | Hangup | Fallback


@dataclass(frozen=True)
class CallState:
    call_id: str
    clinic_id: str
    received_at: datetime
    decisions: tuple[Decision, ...] = ()
    handed: frozenset[str] = frozenset()  # the steps already given to the proxy
    rung: tuple[tuple[str, Target], ...] = ()  # every (uri, target) the proxy was told to ring
    outcome: Outcome = "ringing"
    outcome_at: datetime | None = None
    answered_by: Target | None = field(default=None)
    declined: frozenset[int] = frozenset()  # the desk attempts reported refused (call.declined)

    def decide(self, decision: Decision) -> CallState:
        """Record a router decision (a redelivered one is a no-op)."""
        if decision in self.decisions:
            return self
        return replace(self, decisions=(*self.decisions, decision))


def _step(state: CallState) -> tuple[str, list[Decision]]:
    """The latest step of the router's: its key and its decisions (a desk attempt, or the vendors)."""
    last = state.decisions[-1]
    if isinstance(last, DeskOffer):
        return f"desk:{last.attempt}", [
            d for d in state.decisions if isinstance(d, DeskOffer) and d.attempt == last.attempt
        ]
    held = [d for d in state.decisions if isinstance(d, VendorHandover)]
    return "vendors:" + ",".join(sorted(v.vendor_id for v in held)), list(held)


def next_ring(state: CallState, directory: Directory, now: datetime) -> tuple[Next, CallState]:
    """What the proxy rings now, and the state with that step marked handed over."""
    if state.outcome != "ringing":
        return Hangup(state.outcome), state
    if not state.decisions:
        return Wait(), state
    key, step = _step(state)
    if key in state.handed:
        return Wait(), state
    if isinstance(step[0], DeskOffer):
        ring = _desk_ring([d for d in step if isinstance(d, DeskOffer)], directory, now)
    else:
        ring = _vendor_ring([d for d in step if isinstance(d, VendorHandover)], directory, now)
    if ring is None:
        return Wait(), state
    return ring, replace(state, handed=state.handed | {key}, rung=(*state.rung, *ring.branches))


def _desk_ring(offers: list[DeskOffer], directory: Directory, now: datetime) -> Ring | None:
    left = min(o.ring_until for o in offers) - now
    branches = tuple((uri, o.target) for o in offers if (uri := directory.uri(o.target)) is not None)
    if not branches or left < timedelta(seconds=MIN_RING_SECONDS):
        return None  # nothing the proxy can ring before the router moves on
    return Ring(branches, left.total_seconds())


def _vendor_ring(held: list[VendorHandover], directory: Directory, now: datetime) -> Ring | None:
    branches = tuple(
        (uri, target)
        for v in held
        if (uri := directory.uri(target := Target("answering_service", v.vendor_id))) is not None
    )
    if not branches:
        return None
    return Ring(branches, vendor_ring_seconds(held, directory, now))


def vendor_ring_seconds(held: list[VendorHandover], directory: Directory, now: datetime) -> float:
    """Until the router may hand the call to a vendor that does not hold it yet: the latest moment that
    vendor can still answer in time (hedge), or a holder's missed target (failover)."""
    holders = {v.vendor_id for v in held}
    answer_by = max(v.answer_by for v in held)
    others = [v for v in directory.vendor_ids if v not in holders]
    moments = [answer_by - timedelta(seconds=directory.answer_target(v)) for v in others]
    if others:
        moments += [v.overflowed_at + timedelta(seconds=directory.answer_target(v.vendor_id)) for v in held]
    future = [(m - now).total_seconds() for m in moments if m > now]
    return max(min(future), MIN_RING_SECONDS) if future else VENDOR_RING_SECONDS


def refused(state: CallState, now: datetime) -> tuple[int | None, CallState]:
    """The proxy says what it rang failed before its ring timeout (busy, declined): the router's desk
    attempt to report refused, once, and the state with it recorded (None: nothing to report, e.g. the
    router moved on already, it rang out, or it was not a router's offer)."""
    if state.outcome != "ringing" or not state.decisions:
        return None, state
    key, step = _step(state)
    offers = [d for d in step if isinstance(d, DeskOffer)]
    if key not in state.handed or not offers or offers[0].attempt in state.declined:
        return None, state
    if min(o.ring_until for o in offers) - now < REFUSAL_MARGIN:
        return None, state
    attempt = offers[0].attempt
    return attempt, replace(state, declined=state.declined | {attempt})


def decline_reason(sip_status: int) -> DeclineReason:
    """486 Busy Here / 600 Busy Everywhere: busy; 603 Decline: declined; any other failure: unavailable."""
    if sip_status in (486, 600):
        return "busy"
    return "declined" if sip_status == 603 else "unavailable"


SILENT = "silent"  # the step key of what rang because the router was silent


def silent_ring(
    state: CallState, directory: Directory, available: list[str], now: datetime
) -> tuple[Ring | None, CallState]:
    """The router has not answered in time (the broker frozen): the desks last known available ring
    at once until the moment the router would hand the call to a vendor, then every vendor; a call
    rung so already goes straight to the vendors. None: nothing with a SIP URI to ring."""
    until = state.received_at + timedelta(seconds=directory.desks_ring_seconds)
    left = (until - now).total_seconds()
    desks = tuple(
        (uri, target) for r in available if (uri := directory.uri(target := Target("receptionist", r))) is not None
    )
    first = SILENT not in state.handed
    ring = Ring(desks, left) if first and desks and left >= MIN_RING_SECONDS else fallback_ring(directory)
    if ring is None:
        return None, state
    return ring, replace(state, handed=state.handed | {SILENT}, rung=(*state.rung, *ring.branches))


def fallback_ring(directory: Directory) -> Ring | None:
    """The router has not answered in time: ring every vendor of the clinic (a human, never silence)."""
    branches = tuple(
        (uri, target)
        for v in directory.vendor_ids
        if (uri := directory.uri(target := Target("answering_service", v))) is not None
    )
    return Ring(branches, VENDOR_RING_SECONDS) if branches else None


def answered(state: CallState, uri: str | None, now: datetime) -> CallState | None:
    """The proxy saw a 200 OK from `uri`: the state with who answered (None if the call is not ringing)."""
    if state.outcome != "ringing":
        return None
    by = next((t for u, t in reversed(state.rung) if u == uri), None)
    if by is None and state.rung:
        by = state.rung[-1][1]  # the proxy did not say which branch: the latest target rung
    return replace(state, outcome="answered", outcome_at=now, answered_by=by)


def abandoned(state: CallState, now: datetime) -> CallState | None:
    """The caller hung up (CANCEL) before any answer (None if it was answered or over already)."""
    if state.outcome != "ringing":
        return None
    return replace(state, outcome="abandoned", outcome_at=now)


def ended(state: CallState, now: datetime) -> CallState | None:
    """A BYE on an answered call (None otherwise)."""
    if state.outcome != "answered":
        return None
    return replace(state, outcome="ended", outcome_at=now)
