"""Event and timer handlers: thin glue between events, the domain and the database.

Everything for one clinic runs under that clinic's advisory lock (repository.lock_clinic), so
several replicas, the consumer and the timer worker never interleave on a clinic's calls and
presence. A ring timeout, a vendor's answer deadline or the moment to offer the other vendor the
call too (hedge) is a durable timer written in the same transaction as the offer: a router killed
while a call rings fires it after restart, once. Which event or timer still applies to a call, and
what follows (withdrawals, kept and replayed outcomes), is domain/lifecycle.py's decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.common.clinics import UnknownClinic, for_version_check, last_known, require_clinic
from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
    CallRouted,
    ClinicConfig,
    Event,
    vendor_calls_topic,
)
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import RingTimeoutTimer, VendorAnswerTimer, VendorHedgeTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import caller_numbers, domain, isolation, paging, telemetry, unknown_clinics, withdrawals
from .adapters import early_outcomes, repository
from .domain import Decision, Offer, ToVendor, lifecycle
from .domain.lifecycle import StoredCall
from .domain.service_levels import SHORT_ABANDON_SECONDS, arrived_at, happened_at
from .domain.vendor_isolation import OTHER_CLINIC, answered_as_itself, answered_by, same_clinic, was_handed

log = get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def _sister_desks(uow: UnitOfWork, clinic: ClinicConfig) -> dict[str, domain.SisterDesk]:
    """The sister clinics of the chain that this router also serves: their configuration and presence
    (one round trip, only for a clinic that has sister pools)."""
    ids = [s.clinic_id for s in clinic.phone.sister_pools]
    if not ids:
        return {}
    return {
        clinic_id: domain.SisterDesk(await require_clinic(uow.conn, clinic_id, version), agents)
        for clinic_id, version, agents in await repository.sister_desks(uow.conn, ids)
    }


async def _decide_and_apply(
    uow: UnitOfWork, clinic: ClinicConfig, row: StoredCall, now: datetime, *, missed: bool
) -> Decision:
    state = repository.call_state(row, missed=missed)
    vendor_ids = [v.vendor_id for v in clinic.phone.effective_vendors()]
    decision = domain.decide(
        clinic,
        state,
        await repository.agents(uow.conn, clinic.clinic_id),
        await repository.vendors(uow.conn, vendor_ids),
        now,
        await repository.cursors(uow.conn, clinic.clinic_id),
        await _sister_desks(uow, clinic),
    )
    await _apply(uow, clinic, row, sorted(state.tried), decision, now)
    return decision


async def _apply(
    uow: UnitOfWork, clinic: ClinicConfig, row: StoredCall, tried: list[str], d: Decision, now: datetime
) -> datetime | None:
    """Record and publish a decision; return the clinic's oldest waiting call (read in the same round
    trip as the call's new state)."""
    call_id, clinic_id = row.call_id, row.clinic_id
    routed = CallRouted(
        call_id=call_id,
        clinic_id=clinic_id,
        target_kind=d.target_kind,
        target_id=d.target_id,
        reason=d.reason,
        answer_by=d.answer_by,
        attempt=d.attempt,
    )
    telemetry.ROUTED.labels(clinic_id, d.target_kind, d.reason).inc()
    if isinstance(d.route, Offer):
        return await _offer(uow, row, tried, d, d.route, routed, now)
    assert isinstance(d.route, ToVendor)
    then: list[Event] = [routed]
    if d.page_on_call:
        then.append(
            CallRouted(
                call_id=call_id,
                clinic_id=clinic_id,
                target_kind="on_call",
                target_id=d.page_on_call,
                reason="urgent",
                answer_by=d.answer_by,
                attempt=d.attempt,
            )
        )
    oldest = await _to_vendor(uow, clinic, row, tried, d, d.route.vendor_id, now, then=then)
    if d.page_on_call:  # paged until acknowledged, re-sent and escalated along the roster
        await paging.start_call(uow, clinic, call_id, now)
    return oldest


async def _offer(
    uow: UnitOfWork, row: StoredCall, tried: list[str], d: Decision, offer: Offer, routed: CallRouted, now: datetime
) -> datetime | None:
    """Ring the receptionists (or the pool) of the offer: call.routed, each call.offered, and the
    ring timeout. Returns the clinic's oldest waiting call."""
    call_id, clinic_id = row.call_id, row.clinic_id
    cursor = None
    if offer.pool_id and offer.receptionists and offer.target_kind == "receptionist":
        cursor = (offer.pool_id, offer.receptionists[0])
    # One round trip for the call row, who rings, the pool's cursor and the oldest waiting call.
    oldest = await repository.record_offer(
        uow.conn,
        call_id,
        clinic_id,
        target_kind=offer.target_kind,
        target_id=offer.target_id,
        reason=offer.reason,
        answer_by=d.answer_by,
        attempt=d.attempt,
        tried=tried,
        offer_keys=list(offer.tried_keys),
        ringing=list(offer.receptionists),
        offer_pool=offer.pool_id,
        cursor=cursor,
    )
    targets = [("receptionist", r) for r in offer.receptionists] or [(offer.target_kind, offer.target_id)]
    offers = [
        CallOffered(
            call_id=call_id,
            clinic_id=clinic_id,
            target_kind=kind,
            target_id=target,
            pool_id=offer.pool_id,
            ring_timeout_seconds=offer.ring_timeout_seconds,
            offered_at=now,
            attempt=d.attempt,
        )
        for kind, target in targets
    ]
    # call.routed, then each call.offered, in that order, in one round trip
    await uow.emit_many([(routed, None), *((o, None) for o in offers)])
    await uow.set_timer(
        f"ring:{call_id}:{d.attempt}",
        now + timedelta(seconds=offer.ring_timeout_seconds),
        RingTimeoutTimer(call_id=call_id, clinic_id=clinic_id, attempt=d.attempt),
    )
    return oldest


async def _to_vendor(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    row: StoredCall,
    tried: list[str],
    d: Decision,
    vendor_id: str,
    now: datetime,
    then: Sequence[Event] = (),
) -> datetime | None:
    """Hand the call to a vendor: call.overflowed (and the vendor's own copy), then the events of
    `then`, in one round trip. Returns the clinic's oldest waiting call."""
    call_id, clinic_id = row.call_id, row.clinic_id
    handed = await repository.record_vendor(
        uow.conn,
        call_id,
        clinic_id,
        vendor_id=vendor_id,
        reason=d.reason,
        answer_by=d.answer_by,
        attempt=d.attempt,
        tried=tried,
        now=now,
        after_hours=d.reason in ("after_hours", "closure"),
        caller_token=row.caller_token,
    )
    overflowed = CallOverflowed(
        call_id=call_id,
        clinic_id=clinic_id,
        vendor_id=vendor_id,
        reason=d.reason,
        overflowed_at=now,
        answer_by=d.answer_by,
        caller_token=row.caller_token or "unknown",
        intent=row.intent,
        language=row.language,
        patient_id=row.patient_id,
        attempt=d.attempt,
    )
    events: list[tuple[Event, str | None]] = [(overflowed, None)]
    if handed.topic_ready:
        # The vendor's own copy, on its own topic: it never reads the shared one. Only this copy
        # carries the caller's number, sealed with this vendor's key.
        callback = caller_numbers.sealed_for_vendor(handed.caller_number, overflowed)
        events.append((overflowed.model_copy(update={"callback": callback}), vendor_calls_topic(vendor_id)))
    await uow.emit_many([*events, *((e, None) for e in then)])
    telemetry.CALLS_OVERFLOWED.labels(clinic_id, vendor_id, d.reason).inc()
    if row.intent == "urgent":  # a vendor handed an urgent call while it is paged delivers the page too
        await paging.hand_over(uow, clinic, call_id, vendor_id)
    await _vendor_timers(uow, clinic, row, tried, d, vendor_id, now)
    return handed.oldest_waiting


async def _vendor_timers(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    row: StoredCall,
    tried: list[str],
    d: Decision,
    vendor_id: str,
    now: datetime,
) -> None:
    """The vendor's answer deadline, and the other vendor's offer now or at the hedge time."""
    call_id, clinic_id = row.call_id, row.clinic_id
    target = clinic.phone.vendor(vendor_id).answer_target_seconds
    await uow.set_timer(
        f"vendor:{call_id}:{d.attempt}",
        now + timedelta(seconds=target),
        VendorAnswerTimer(call_id=call_id, clinic_id=clinic_id, vendor_id=vendor_id, attempt=d.attempt),
    )
    route = d.route
    if isinstance(route, ToVendor) and route.hedge is not None and route.hedge_at is not None:
        if route.hedge_at <= now:  # no time to wait for this vendor alone: both at once
            await _hedge(uow, clinic, row, [*tried, f"vendor:{vendor_id}"], route.hedge, d.attempt, now)
        else:
            await uow.set_timer(
                f"hedge:{call_id}",
                route.hedge_at,
                VendorHedgeTimer(call_id=call_id, clinic_id=clinic_id, vendor_id=route.hedge),
            )


async def _hedge(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    row: StoredCall,
    tried: list[str],
    vendor_id: str,
    attempt: int,
    now: datetime,
) -> None:
    """Offer the call to `vendor_id` too; whoever already holds it keeps it (the first answer wins)."""
    deadline = domain.routing.answer_by(clinic.phone, row.received_at)
    decision = Decision(ToVendor(vendor_id, "vendor_hedge"), deadline, attempt + 1)
    routed = CallRouted(
        call_id=row.call_id,
        clinic_id=row.clinic_id,
        target_kind="answering_service",
        target_id=vendor_id,
        reason="vendor_hedge",
        answer_by=deadline,
        attempt=decision.attempt,
    )
    telemetry.VENDOR_HEDGES.labels(row.clinic_id, vendor_id).inc()
    await _to_vendor(uow, clinic, row, sorted(set(tried)), decision, vendor_id, now, then=[routed])


async def _cancel_timers(uow: UnitOfWork, call_id: str, attempt: int, *, hedge: bool) -> None:
    # Timer keys carry the attempt: a timer handler that sets the next timer must not reuse the key
    # of the timer being fired (the worker deletes that row when the handler returns).
    await uow.cancel_timer(f"ring:{call_id}:{attempt}")
    await uow.cancel_timer(f"vendor:{call_id}:{attempt}")
    if hedge:
        await uow.cancel_timer(f"hedge:{call_id}")


async def replay_early(uow: UnitOfWork, early: dict[str, dict[str, Any]]) -> bool:
    """Apply the outcomes that overtook a call just stored; False if there were none (route it)."""
    step = lifecycle.transition(lifecycle.Call(lifecycle.Status.NONE, early=frozenset(early)), lifecycle.Received())
    for effect in step.effects:
        if isinstance(effect, lifecycle.ReplayEarly) and effect.outcome == lifecycle.ANSWERED:
            await handle_call_answered(CallAnswered.model_validate(early[effect.outcome]), uow)
        elif isinstance(effect, lifecycle.ReplayEarly):
            await handle_call_abandoned(CallAbandoned.model_validate(early[effect.outcome]), uow)
    return not any(isinstance(e, lifecycle.Route) for e in step.effects)


# --- events -------------------------------------------------------------------------------------


async def handle_call_received(event: CallReceived, uow: UnitOfWork) -> None:
    # The hot path: lock, store the call and load presence, vendor health and cursors in one round
    # trip (call_router_receive, functions.sql), decide, then record an offer in one more.
    known = last_known(event.clinic_id)
    guessed = [v.vendor_id for v in known[1].phone.effective_vendors()] if known else []
    arrived = arrived_at(event.received_at, _now())
    got = await repository.receive_call(uow.conn, event, arrived, guessed)
    if got.version is None:  # nothing was written; the clinic is locked
        return await unknown_clinics.route(event, arrived, uow)
    clinic = await require_clinic(uow.conn, event.clinic_id, got.version)
    row = got.row
    if row is None:
        return  # this call was already routed (same call_id under another event id)
    telemetry.CALLS_RECEIVED.labels(event.clinic_id).inc()
    isolation.refused_kept(got.refused, OTHER_CLINIC)
    if await replay_early(uow, got.early):  # the outcome overtook the call (another topic): ring nobody
        return
    vendor_ids = [v.vendor_id for v in clinic.phone.effective_vendors()]
    vendors = got.vendors if vendor_ids == guessed else await repository.vendors(uow.conn, vendor_ids)
    now = _now()
    state = repository.call_state(row, missed=False)
    decision = domain.decide(clinic, state, got.agents, vendors, now, got.cursors, await _sister_desks(uow, clinic))
    oldest = await _apply(uow, clinic, row, sorted(state.tried), decision, now)
    telemetry.OLDEST_WAITING.labels(event.clinic_id).set(oldest.timestamp() if oldest else 0)
    telemetry.DECISION_LAG.observe(max((_now() - row.received_at).total_seconds(), 0.0))
    log.info("call routed", call_id=event.call_id, target_kind=decision.target_kind, reason=decision.reason)


async def handle_call_answered(event: CallAnswered, uow: UnitOfWork) -> None:
    # From the phone system (shared topic), or from a vendor on its own topic: only its own answer
    # of a call handed to it. A refusal raises, which rolls back what call_router_answer wrote.
    vendor = isolation.sender(uow)
    # no later than heard here; call_router_answer also makes it no earlier than the call's arrival
    got = await repository.answer_call(
        uow.conn,
        event.call_id,
        event.clinic_id,
        min(event.answered_at, _now()),
        event.answered_by_kind,
        event.answered_by_id,
        uow.take_claim(),
    )
    isolation.check(event.event_type, vendor, event.clinic_id, same_clinic(got.row, event.clinic_id))
    if vendor is not None:
        isolation.check(
            event.event_type,
            vendor,
            event.clinic_id,
            answered_as_itself(vendor, event.answered_by_kind, event.answered_by_id),
            was_handed(vendor, got.row, event.clinic_id),
        )
    # call_router_answer recorded an accepted answer, cancelled the timers and released who rang
    isolation.refused_kept(got.refused, OTHER_CLINIC)
    early = frozenset({lifecycle.ENDED}) if got.ended else frozenset()
    answer = lifecycle.Answered(event.answered_by_kind, event.answered_by_id, vendor)
    for effect in lifecycle.transition(lifecycle.from_row(got.row, early), answer).effects:
        match effect:
            case lifecycle.KeepEarly():
                await early_outcomes.save(uow.conn, event.call_id, event, event.clinic_id)
            case lifecycle.RecordLateAnswer(late):
                await withdrawals.late_answer(uow, event.call_id, late, event.answered_at)
            case lifecycle.RecordAnswer():
                await _count_answer(uow, event, got)
            case lifecycle.Withdraw(vendors, reason):
                await withdrawals.withdraw(uow, event.call_id, event.clinic_id, vendors, reason)
            case lifecycle.ReplayEarly():
                await handle_call_ended(CallEnded.model_validate(got.ended), uow)


async def _count_answer(uow: UnitOfWork, event: CallAnswered, got: repository.Answered) -> None:
    assert got.row is not None and got.answered_at is not None
    waited = (got.answered_at - got.row.received_at).total_seconds()  # as stored: never negative
    if got.version is None:  # a call of an unknown clinic, handed to the network fallback
        within = got.answered_at <= got.row.answer_by
    else:
        budget = (await require_clinic(uow.conn, event.clinic_id, got.version)).phone.ring_budget_seconds
        within = waited <= budget
    telemetry.CALLS_ANSWERED.labels(event.clinic_id, str(within).lower()).inc()
    telemetry.TIME_TO_HUMAN.labels(event.clinic_id).observe(waited)
    telemetry.OLDEST_WAITING.labels(event.clinic_id).set(got.oldest_waiting.timestamp() if got.oldest_waiting else 0)


async def handle_call_abandoned(event: CallAbandoned, uow: UnitOfWork) -> None:
    await repository.lock_clinic(uow.conn, event.clinic_id)
    row = await repository.get_call(uow.conn, event.call_id, for_update=True)
    isolation.check(event.event_type, None, event.clinic_id, same_clinic(row, event.clinic_id))
    for effect in lifecycle.transition(lifecycle.from_row(row), lifecycle.Abandoned()).effects:
        match effect:
            case lifecycle.KeepEarly():
                await early_outcomes.save(uow.conn, event.call_id, event, event.clinic_id)
            case lifecycle.RecordAbandon():
                assert row is not None
                await _record_abandon(uow, event, row)
            case lifecycle.CancelTimers(attempt, hedge):
                await _cancel_timers(uow, event.call_id, attempt, hedge=hedge)
            case lifecycle.Withdraw(vendors, reason):
                await withdrawals.withdraw(uow, event.call_id, event.clinic_id, vendors, reason)
            case lifecycle.ReleaseRinging():
                await repository.release_ringing(uow.conn, event.clinic_id, event.call_id)


async def _record_abandon(uow: UnitOfWork, event: CallAbandoned, row: StoredCall) -> None:
    """Mark the call abandoned and offer the caller a callback."""
    at = happened_at(event.abandoned_at, _now(), row.received_at)
    await repository.mark_abandoned(uow.conn, event.call_id, at)
    short = (at - row.received_at).total_seconds() <= SHORT_ABANDON_SECONDS
    telemetry.CALLS_ABANDONED.labels(event.clinic_id, str(short).lower()).inc()
    oldest = await repository.oldest_waiting(uow.conn, event.clinic_id)
    telemetry.OLDEST_WAITING.labels(event.clinic_id).set(oldest.timestamp() if oldest else 0)
    token = row.caller_token
    callback_id = f"cb-{event.call_id}"
    if token and await repository.open_callback(uow.conn, callback_id, event.clinic_id, token, event.call_id, at):
        await uow.emit(
            CallbackRequested(
                callback_id=callback_id,
                clinic_id=event.clinic_id,
                caller_token=token,
                patient_id=row.patient_id,
                reason="abandoned_call",
                urgency="urgent" if row.intent == "urgent" else "routine",
                requested_at=at,
            )
        )


async def handle_call_ended(event: CallEnded, uow: UnitOfWork) -> None:
    vendor = isolation.sender(uow)  # a vendor ends only the calls it answered (its answer came first)
    await repository.lock_clinic(uow.conn, event.clinic_id)
    row = await repository.get_call(uow.conn, event.call_id, for_update=True)
    isolation.check(event.event_type, vendor, event.clinic_id, same_clinic(row, event.clinic_id))
    if vendor is not None:
        isolation.check(event.event_type, vendor, event.clinic_id, answered_by(vendor, row, event.clinic_id))
    for effect in lifecycle.transition(lifecycle.from_row(row), lifecycle.Ended()).effects:
        match effect:
            case lifecycle.KeepEarly():  # the answer has not been seen yet
                await early_outcomes.save(uow.conn, event.call_id, event, event.clinic_id)
            case lifecycle.RecordEnd(idle_receptionist):
                assert row is not None and row.answered_at is not None
                at = happened_at(event.ended_at, _now(), row.answered_at)
                await repository.mark_ended(uow.conn, event.call_id, at)
                if idle_receptionist is not None:
                    await repository.agent_idle_from(uow.conn, event.clinic_id, idle_receptionist, at)


async def handle_agent_status_changed(event: AgentStatusChanged, uow: UnitOfWork) -> None:
    await repository.lock_clinic(uow.conn, event.clinic_id)
    changed_at = event.changed_by(_now())
    await repository.set_agent_status(uow.conn, event.clinic_id, event.receptionist_id, event.status, changed_at)


# --- timers -------------------------------------------------------------------------------------


async def on_ring_timeout(timer: Timer[RingTimeoutTimer], uow: UnitOfWork) -> None:
    """An offer rang out: count it missed, auto-pause who missed it, and route to the next step."""
    clinic_id, call_id = timer.payload.clinic_id, timer.payload.call_id
    version, clinic = await _known_clinic(uow, clinic_id)
    while True:
        vendor_ids = [v.vendor_id for v in clinic.phone.effective_vendors()]
        no_autopause = [p.pool_id for p in clinic.phone.effective_pools() if not p.autopause]
        paused_at = _now()
        got = await repository.ring_timed_out(
            uow.conn, call_id, clinic_id, timer.payload.attempt, version, no_autopause, paused_at, vendor_ids
        )
        if not got.stale:
            break
        # The configuration changed since it was parsed: nothing was written; read it (under the
        # lock the statement took) and go again.
        version, clinic = await _known_clinic(uow, clinic_id, reread=True)
    row = got.row
    if row is None:
        return  # answered, abandoned or moved on meanwhile
    telemetry.MISSED_OFFERS.labels(clinic_id).inc(len(row.ringing) or 1)
    await uow.emit_many(
        [
            (AgentAutoPaused(clinic_id=clinic_id, receptionist_id=r, call_id=call_id, paused_at=paused_at), None)
            for r in got.paused
        ]
    )
    now = _now()  # after the lock: the decision must see the real time left in the budget
    state = repository.call_state(row, missed=True)
    decision = domain.decide(clinic, state, got.agents, got.vendors, now, got.cursors, await _sister_desks(uow, clinic))
    await _apply(uow, clinic, row, sorted(state.tried), decision, now)


async def _known_clinic(uow: UnitOfWork, clinic_id: str, *, reread: bool = False) -> tuple[str, ClinicConfig]:
    """clinics.for_version_check, for a clinic that must be configured."""
    version, clinic = await for_version_check(uow.conn, clinic_id, reread=reread)
    if version is None or clinic is None:
        raise UnknownClinic(clinic_id)
    return version, clinic
