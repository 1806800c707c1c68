"""Withdrawing a call from the vendors that hold it, and the answers they report afterwards.

Several vendors may hold one call (the other vendor is offered it too when the first has not
answered in time: domain/routing.py, hedging). The first answer wins; every other holder is then
told on its own topic `vendor.<id>.calls` (call.withdrawn), as when the caller hangs up, so that its
operator does not pick up a dead line. An answer a vendor reports after that is recorded
(call_withdrawals.late_answer_at) and counted once in a metric of its own, never as the call's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from frontdesk.common.contracts import CallWithdrawn, vendor_calls_topic
from frontdesk.common.logging import get_logger
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .adapters import repository

log = get_logger(__name__)


async def withdraw(uow: UnitOfWork, call_id: str, clinic_id: str, holders: Sequence[str], reason: str) -> None:
    """Tell these vendors holding the call (domain/lifecycle.py says which) that it is withdrawn."""
    now = datetime.now(UTC)
    ready = await repository.record_withdrawals(uow.conn, call_id, list(holders), reason, now)
    await uow.emit_many(
        [
            (
                CallWithdrawn(call_id=call_id, clinic_id=clinic_id, vendor_id=v, reason=reason, withdrawn_at=now),
                vendor_calls_topic(v),
            )
            for v in holders
            if v in ready  # a vendor whose topic is not ready never got its own copy of the call
        ]
    )
    for v in holders:
        telemetry.VENDOR_WITHDRAWALS.labels(v, reason).inc()


async def late_answer(uow: UnitOfWork, call_id: str, vendor_id: str, answered_at: datetime) -> None:
    """A vendor answered a call already answered by another or abandoned: record it (once)."""
    if await repository.record_late_answer(uow.conn, call_id, vendor_id, answered_at):
        telemetry.VENDOR_LATE_ANSWERS.labels(vendor_id).inc()
        log.info("vendor answered a withdrawn call", call_id=call_id, vendor_id=vendor_id)
