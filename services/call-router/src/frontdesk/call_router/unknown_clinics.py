"""Calls for a clinic the router has no configuration for: never a dead end, never a retry.

A clinic may be unknown because it is not configured yet, a typo in the phone system's
number-to-clinic map, or a replica that has not read clinic.configured yet. Such a call is routed at
once to the network fallback (network.py) with reason `unknown_clinic`: call.routed and
call.overflowed (also on the vendor's own topic), like any hand-over; the vendor's answer deadline
and failover use the fallback's vendors. With no fallback configured either, the call is stored
`unrouted` (error log, `frontdesk_calls_unknown_clinic_total{outcome="unrouted"}`, a critical alert)
and routed when its clinic's configuration arrives, unless the caller hung up meanwhile. Either way
the handler returns at once: it never holds up the other clinics whose calls share its partition.

It applies decisions with handlers.py's own steps (`_apply`, `_decide_and_apply`), and handlers.py
calls `route`: the two modules import each other as modules (attributes are read at call time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from frontdesk.common.clinics import get_clinic, require_clinic
from frontdesk.common.contracts import CallReceived, ClinicConfig, ClinicConfigured
from frontdesk.common.logging import get_logger
from frontdesk.common.uow import UnitOfWork

from . import domain, handlers, isolation, network, telemetry, vendor_topics
from .adapters import early_outcomes, repository
from .domain import lifecycle
from .domain.vendor_isolation import OTHER_CLINIC, own_outcomes

log = get_logger(__name__)
UNROUTED_HOLD = timedelta(minutes=10)  # a held call older than this when its clinic arrives stays unrouted


async def route(event: CallReceived, arrived: datetime, uow: UnitOfWork) -> None:
    """No configuration for the call's clinic: the network fallback's vendor at once (reason
    unknown_clinic), never a retry that would hold up the other clinics of the partition. With no
    fallback either, the call is stored `unrouted` (an error log, a metric, an alert) and routed
    when its clinic's configuration arrives (_route_held_calls)."""
    row = await repository.insert_call(uow.conn, event, arrived)
    if row is None:
        return  # this call was already handled (same call_id under another event id)
    kept = await early_outcomes.take(uow.conn, event.call_id, [lifecycle.ANSWERED, lifecycle.ABANDONED])
    early, refused = own_outcomes(kept, event.clinic_id)
    isolation.refused_kept(refused, OTHER_CLINIC)
    if await handlers.replay_early(uow, early):  # the outcome overtook the call: ring nobody
        return
    fallback = await network.fallback(uow)
    if fallback is None:
        await repository.mark_unrouted(uow.conn, event.call_id)
        telemetry.UNKNOWN_CLINIC_CALLS.labels("unrouted").inc()
        log.error(
            "call for an unknown clinic and no network fallback: held until the clinic is configured",
            call_id=event.call_id,
            clinic_id=event.clinic_id,
        )
        return
    now = handlers._now()
    vendors = await repository.vendors(uow.conn, fallback.vendor_ids())
    decision = domain.decide_unknown_clinic(fallback, repository.call_state(row), vendors, now)
    await handlers._apply(uow, domain.fallback_clinic(event.clinic_id, fallback), row, [], decision, now)
    telemetry.UNKNOWN_CLINIC_CALLS.labels("fallback").inc()
    telemetry.DECISION_LAG.observe(max((handlers._now() - row.received_at).total_seconds(), 0.0))
    log.warning(
        "call for an unknown clinic routed to the network fallback",
        call_id=event.call_id,
        clinic_id=event.clinic_id,
        vendor_id=decision.target_id,
    )


async def handle_clinic_configured(event: ClinicConfigured, uow: UnitOfWork) -> None:
    """Project the clinic (and provision its vendors' topics), then route the calls held for it."""
    await vendor_topics.handle_clinic_configured(event, uow)
    await _route_held_calls(uow, event.clinic_id)


async def _route_held_calls(uow: UnitOfWork, clinic_id: str) -> None:
    """Calls that arrived before their clinic's configuration while no fallback was configured
    (`unrouted`) are routed now, unless the caller hung up (call.abandoned) or it is too late. A call
    handed to the fallback meanwhile stays with its vendor: a human is already taking it."""
    await repository.lock_clinic(uow.conn, clinic_id)
    rows = await repository.held_calls(uow.conn, clinic_id, handlers._now() - UNROUTED_HOLD)
    if not rows:
        return
    clinic = await require_clinic(uow.conn, clinic_id)
    for row in rows:
        decision = await handlers._decide_and_apply(uow, clinic, row, handlers._now(), missed=False)
        log.info("held call routed", call_id=row.call_id, target_kind=decision.target_kind)


async def clinic_or_fallback(uow: UnitOfWork, clinic_id: str) -> ClinicConfig | None:
    """The clinic's configuration, or for a clinic not configured the network fallback as a clinic."""
    return await get_clinic(uow.conn, clinic_id) or await fallback_as_clinic(uow, clinic_id)


async def fallback_as_clinic(uow: UnitOfWork, clinic_id: str) -> ClinicConfig | None:
    """For a call handed to the network fallback while its clinic was unknown, the fallback as a
    clinic (None: no fallback is configured now)."""
    fallback = await network.fallback(uow)
    if fallback is None:
        log.warning("neither the clinic nor a network fallback is configured", clinic_id=clinic_id)
        return None
    return domain.fallback_clinic(clinic_id, fallback)
