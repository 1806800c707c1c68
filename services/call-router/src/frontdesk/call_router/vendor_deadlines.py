"""A vendor's answer deadline, and offering the call to the other vendor too (hedge): timer handlers.

- `vendor_answer` (per vendor and hand-over, at the vendor's own answer target): the vendor still
  holds the call unanswered, so it is marked unhealthy for a while (VENDOR_COOLDOWN) and the other
  vendor gets the call if it has not had it (each vendor once: no ping-pong).
- `vendor_hedge` (at the latest moment the other vendor can still answer within the budget): nobody
  has answered, so the other vendor is offered the call too; whoever answers first wins.
"""

from __future__ import annotations

from datetime import datetime

from frontdesk.common.clinics import for_version_check
from frontdesk.common.contracts import CallRouted, ClinicConfig
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import VendorAnswerTimer, VendorHedgeTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import domain, telemetry, unknown_clinics
from .adapters import repository
from .domain import Decision, ToVendor, lifecycle
from .domain.lifecycle import StoredCall
from .domain.routing import VENDOR_COOLDOWN
from .handlers import _hedge, _now, _to_vendor

log = get_logger(__name__)


async def on_vendor_answer_deadline(timer: Timer[VendorAnswerTimer], uow: UnitOfWork) -> None:
    """The vendor did not answer within its own target: mark it unhealthy, fail over to the other."""
    clinic_id, call_id, vendor_id = timer.payload.clinic_id, timer.payload.call_id, timer.payload.vendor_id
    version, clinic = await _versioned_clinic(uow, clinic_id)
    while True:
        now = _now()
        vendor_ids = [v.vendor_id for v in clinic.phone.effective_vendors()] if clinic else []
        got = await repository.vendor_missed_deadline(
            uow.conn, call_id, clinic_id, vendor_id, version, now + VENDOR_COOLDOWN, vendor_ids
        )
        if not got.stale:
            break
        # The configuration changed since it was parsed: nothing was written; read it (under the
        # lock the statement took) and go again.
        version, clinic = await _versioned_clinic(uow, clinic_id, reread=True)
    if got.row is not None and clinic is not None:  # None: neither the clinic nor a fallback (logged)
        await _fail_over(uow, clinic, got.row, vendor_id, got.vendors, now)


async def _versioned_clinic(
    uow: UnitOfWork, clinic_id: str, *, reread: bool = False
) -> tuple[str | None, ClinicConfig | None]:
    """clinics.for_version_check; for a clinic not configured, the network fallback as its configuration."""
    version, clinic = await for_version_check(uow.conn, clinic_id, reread=reread)
    return version, clinic or await unknown_clinics.fallback_as_clinic(uow, clinic_id)


async def _fail_over(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    row: StoredCall,
    vendor_id: str,
    vendors: dict[str, domain.VendorState],
    now: datetime,
) -> None:
    """Hand the call from `vendor_id`, already marked failed, to the other vendor, if it is healthy
    and has not had this call yet."""
    telemetry.VENDOR_FAILOVERS.labels(vendor_id).inc()
    other = domain.failover_vendor(clinic.phone, vendor_id, vendors, now)
    if other is not None and other in lifecycle.holders_of(row):
        return  # the other vendor was offered the call too already (hedge)
    tried = set(row.tried) | {f"vendor:{vendor_id}", f"vendor:{row.vendor_id}"}
    if other is None or f"vendor:{other}" in tried:
        # Each vendor gets the call once: no ping-pong between two vendors that do not answer.
        log.warning("vendor missed its answer target and no other vendor is left", vendor_id=vendor_id)
        return
    call_id, clinic_id = row.call_id, row.clinic_id
    deadline = domain.routing.answer_by(clinic.phone, row.received_at)
    decision = Decision(ToVendor(other, "vendor_failover"), deadline, row.attempt + 1)
    routed = CallRouted(
        call_id=call_id,
        clinic_id=clinic_id,
        target_kind="answering_service",
        target_id=other,
        reason="vendor_failover",
        answer_by=deadline,
        attempt=decision.attempt,
    )
    await _to_vendor(uow, clinic, row, sorted(tried), decision, other, now, then=[routed])


async def on_vendor_hedge(timer: Timer[VendorHedgeTimer], uow: UnitOfWork) -> None:
    """Nobody has answered by the latest moment the other vendor can still answer in time: offer it
    the call too, unless it has had it already or its heartbeats stopped while the holder's did not.
    The other vendor is the one the configuration names now, not necessarily the timer's: a call of an
    unknown clinic held by the network fallback's vendor whose clinic was configured meanwhile goes
    to the clinic's vendor (as a failover would), a secondary replaced meanwhile to the new one."""
    clinic_id, call_id = timer.payload.clinic_id, timer.payload.call_id
    await repository.lock_clinic(uow.conn, clinic_id)
    row = await repository.get_call(uow.conn, call_id, for_update=True)
    if row is None or not lifecycle.transition(lifecycle.from_row(row), lifecycle.HedgeDue()).accepted:
        return  # answered or abandoned meanwhile
    clinic = await unknown_clinics.clinic_or_fallback(uow, clinic_id)
    if clinic is None:
        return  # neither the clinic nor a fallback is configured now (logged)
    assert row.vendor_id is not None  # a hedge is due only while a vendor holds the call
    now = _now()
    vendors = await repository.vendors(uow.conn, [v.vendor_id for v in clinic.phone.effective_vendors()])
    tried = frozenset(row.tried) | {f"vendor:{row.vendor_id}"}
    other = domain.hedge_vendor(clinic.phone, row.vendor_id, tried, vendors, now)
    if other is None:
        log.info("no other vendor offered the call too", call_id=call_id, planned=timer.payload.vendor_id)
        return
    await _hedge(uow, clinic, row, sorted(tried), other, row.attempt, now)
