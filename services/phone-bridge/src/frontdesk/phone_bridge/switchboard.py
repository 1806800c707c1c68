"""The bridge's use cases, answered from memory: the proxy asks where a call rings; it reports answers,
hang-ups and ends; desk phones register; the router's decisions and presence arrive from the consumer.

1. A new call: call.received is published (in the background) and the proxy's question waits, in
   memory, for the router's first decision; past `router_wait_seconds` the desks last known
   available ring, then the clinic's vendors (domain.calls.silent_ring).
2. Each later question gets the router's next decision (domain.next_ring) as soon as it is known;
   one asked because the desks refused before their ring timeout publishes call.declined first.
3. The proxy's reports become call.answered / call.abandoned / call.ended, each once (event ids
   derived from the call), published without holding the proxy.
4. A desk phone's REGISTER (or its expiry) becomes agent.status_changed when it changes presence.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import (
    AgentStatus,
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallDeclined,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
    ClinicConfig,
    Event,
)
from frontdesk.common.logging import get_logger

from . import telemetry
from .domain import calls, presence
from .domain.calls import CallState, DeskOffer, Fallback, Next, Ring, Target, VendorHandover, Wait
from .domain.directory import Directory, directory

log = get_logger(__name__)
Publish = Callable[[Event, str], None]  # (event, event id): queued for the outbox, never blocks
FORGET_AFTER = timedelta(hours=2)  # calls older than this leave memory (no call rings that long)


@dataclass(frozen=True)
class Question:
    """The proxy asks where a call rings now."""

    sip_call_id: str
    dialled: str  # the Request-URI's user part
    caller: str  # the From URI's user part: only ever kept as a keyed hash (caller_token)
    refused_with: int | None = None  # the proxy asks again because what it rang failed with this status


class Switchboard:
    def __init__(
        self, publish: Publish, *, caller_key: bytes, router_wait_seconds: float, clock: Callable[[], datetime]
    ) -> None:
        self._publish = publish
        self._caller_key = caller_key
        self._router_wait = router_wait_seconds
        self._now = clock
        self._clinics: dict[str, Directory] = {}  # by what callers dial
        self._calls: dict[str, CallState] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._presence: dict[presence.Desk, presence.Presence] = {}  # the last status known per desk
        self._registered: dict[presence.Desk, datetime] = {}  # desk phones' registrations, to expiry

    # --- what the bridge learns from the events ---------------------------------------------------

    def learn_clinic(self, config: ClinicConfig) -> None:
        self._clinics = {n: d for n, d in self._clinics.items() if d.clinic_id != config.clinic_id}
        if (found := directory(config)) is not None:
            self._clinics |= {number: found for number in found.numbers}

    def learn_presence(self, clinic_id: str, receptionist_id: str, status: AgentStatus, at: datetime) -> None:
        """agent.status_changed / agent.auto_paused, or a registration: the latest status wins."""
        desk = (clinic_id, receptionist_id)
        self._presence = presence.learn(self._presence, desk, presence.Presence(status, at))

    def registered(self, address: str, expires_seconds: int) -> int | None:
        """A desk phone's REGISTER for its address of record (`user@host`): the seconds granted, or
        None when no clinic has a receptionist at that address."""
        desks = {(d.clinic_id, r) for d in self._clinics.values() if (r := d.desk_aors.get(address)) is not None}
        if not desks:
            return None
        self._registered, changes = presence.register(self._registered, sorted(desks), expires_seconds, self._now())
        self._presence_changed(changes)
        return max(min(expires_seconds, presence.MAX_REGISTRATION_SECONDS), 0)

    def expire_registrations(self) -> None:
        """Desk phones whose registration ran out without a refresh are offline."""
        self._registered, changes = presence.expire(self._registered, self._now())
        self._presence_changed(changes)

    def _presence_changed(self, changes: list[presence.Change]) -> None:
        for change in changes:
            clinic_id, receptionist_id = change.desk
            self.learn_presence(clinic_id, receptionist_id, change.status, change.changed_at)
            event = AgentStatusChanged(
                clinic_id=clinic_id, receptionist_id=receptionist_id, status=change.status, changed_at=change.changed_at
            )
            # One id per change (a repeat is dropped by consumers' inboxes), as a UUID: the change's
            # time written out as digits would read as a phone number to the bus's personal-data scan.
            change_key = f"sip-presence:{clinic_id}:{receptionist_id}:{change.status}:{change.changed_at.isoformat()}"
            self._publish(event, str(uuid.uuid5(uuid.NAMESPACE_URL, change_key)))
            log.info("desk phone presence", clinic_id=clinic_id, receptionist_id=receptionist_id, status=change.status)

    def clinic_of(self, dialled: str) -> str | None:
        found = self._clinics.get(dialled)
        return None if found is None else found.clinic_id

    def router_decided(self, event: CallOffered | CallOverflowed) -> None:
        state = self._calls.get(event.call_id)
        if state is None:
            return  # not a call this bridge took
        if isinstance(event, CallOffered):
            until = event.offered_at + timedelta(seconds=event.ring_timeout_seconds)
            decision: calls.Decision = DeskOffer(Target(event.target_kind, event.target_id), event.attempt, until)
        else:
            decision = VendorHandover(event.vendor_id, event.overflowed_at, event.answer_by)
        self._calls[event.call_id] = state.decide(decision)
        self._changed.setdefault(event.call_id, asyncio.Event()).set()

    # --- what the proxy asks and reports ------------------------------------------------------------

    async def route(self, question: Question) -> Next:
        """The next thing to ring for this call (waits in memory for the router's decision)."""
        call_id = calls.call_id_for(question.sip_call_id)
        found = self._clinics.get(question.dialled)
        if found is None:
            log.warning("call for a number no clinic has: the fallback answering service takes it", call_id=call_id)
            telemetry.FALLBACK.labels("unknown_number").inc()
            return Fallback("unknown_number")
        if call_id not in self._calls:
            self._receive(call_id, found, question)
        elif question.refused_with is not None:
            self._refused(call_id, question.refused_with)
        asked = time.monotonic()
        deadline = asked + self._router_wait
        while True:
            started = time.perf_counter()
            answer, state = calls.next_ring(self._calls[call_id], found, self._now())
            self._calls[call_id] = state
            telemetry.DECISION_SECONDS.observe(time.perf_counter() - started)
            if not isinstance(answer, Wait):
                telemetry.ROUTER_WAIT_SECONDS.observe(time.monotonic() - asked)
                return answer
            if calls.SILENT in state.handed and not state.decisions:
                return self._router_silent(call_id, found)  # still silent: no second wait
            changed = self._changed.setdefault(call_id, asyncio.Event())
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(deadline - time.monotonic(), 0))
            except TimeoutError:
                return self._router_silent(call_id, found)

    def _router_silent(self, call_id: str, found: Directory) -> Next:
        """No router decision in time: the desks last known available, then the vendors (a live human,
        never silence)."""
        telemetry.ROUTER_SILENT.inc()
        on_call = {
            s.answered_by.target_id
            for s in self._calls.values()
            if s.outcome == "answered" and s.clinic_id == found.clinic_id and s.answered_by is not None
        }
        desks = presence.available(self._presence, found.clinic_id, on_call)
        ring, state = calls.silent_ring(self._calls[call_id], found, desks, self._now())
        if ring is None:
            telemetry.FALLBACK.labels("nothing_to_ring").inc()
            return Fallback("nothing_to_ring")
        self._calls[call_id] = state
        rang = "desks" if ring.branches[0][1].kind == "receptionist" else "vendors"
        log.warning("no routing decision in time: ringing by the bridge's memory", call_id=call_id, rang=rang)
        return ring

    def _refused(self, call_id: str, sip_status: int) -> None:
        """The router's offer failed before its timeout: tell the router, so the next target rings now."""
        now = self._now()
        attempt, state = calls.refused(self._calls[call_id], now)
        if attempt is None:
            return
        self._calls[call_id] = state
        reason = calls.decline_reason(sip_status)
        event = CallDeclined(
            call_id=call_id, clinic_id=state.clinic_id, attempt=attempt, reason=reason, declined_at=now
        )
        self._publish(event, f"{call_id}:declined:{attempt}")
        telemetry.CALLS.labels("declined").inc()

    def _receive(self, call_id: str, found: Directory, question: Question) -> None:
        self._forget_old()
        now = self._now()
        self._calls[call_id] = CallState(call_id=call_id, clinic_id=found.clinic_id, received_at=now)
        token = hmac.new(self._caller_key, question.caller.encode(), hashlib.sha256).hexdigest()[:32]
        event = CallReceived(call_id=call_id, clinic_id=found.clinic_id, received_at=now, caller_token=f"sip-{token}")
        # The moment is in the id: a bridge restarted mid-call that is asked about the call again
        # publishes it anew at another moment, which the router takes as the same call (by call_id),
        # not as an id reused for other content (dead-lettered).
        self._publish(event, f"{call_id}:received:{now:%Y%m%dT%H%M%S%f}")
        telemetry.CALLS.labels("received").inc()

    def answered(self, sip_call_id: str, uri: str | None) -> None:
        call_id = calls.call_id_for(sip_call_id)
        state = self._calls.get(call_id)
        after = None if state is None else calls.answered(state, uri, self._now())
        if after is None or after.answered_by is None or after.outcome_at is None:
            return
        self._calls[call_id] = after
        by = after.answered_by
        event = CallAnswered(
            call_id=call_id,
            clinic_id=after.clinic_id,
            answered_at=after.outcome_at,
            answered_by_kind=by.kind,
            answered_by_id=by.target_id,
        )
        self._publish(event, f"{call_id}:answered")
        telemetry.CALLS.labels("answered").inc()

    def abandoned(self, sip_call_id: str) -> None:
        call_id = calls.call_id_for(sip_call_id)
        state = self._calls.get(call_id)
        after = None if state is None else calls.abandoned(state, self._now())
        if after is None or after.outcome_at is None:
            return
        self._calls[call_id] = after
        self._publish(
            CallAbandoned(call_id=call_id, clinic_id=after.clinic_id, abandoned_at=after.outcome_at),
            f"{call_id}:abandoned",
        )
        self._changed.setdefault(call_id, asyncio.Event()).set()  # a question still waiting hangs up
        telemetry.CALLS.labels("abandoned").inc()

    def ended(self, sip_call_id: str) -> None:
        call_id = calls.call_id_for(sip_call_id)
        state = self._calls.get(call_id)
        after = None if state is None else calls.ended(state, self._now())
        if after is None or after.outcome_at is None:
            return
        self._calls[call_id] = after
        self._publish(
            CallEnded(call_id=call_id, clinic_id=after.clinic_id, ended_at=after.outcome_at), f"{call_id}:ended"
        )
        telemetry.CALLS.labels("ended").inc()

    def _forget_old(self) -> None:
        oldest = self._now() - FORGET_AFTER
        for call_id in [c for c, s in self._calls.items() if s.received_at < oldest]:
            del self._calls[call_id]
            self._changed.pop(call_id, None)


def utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["Question", "Ring", "Switchboard", "utc_now"]
