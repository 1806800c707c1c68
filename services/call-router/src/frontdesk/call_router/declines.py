"""An offer refused before it rang out (call.declined from the phone system: busy, declined).

The router moves on at once, as at the offer's ring timeout, instead of letting the caller hear the
rest of a ring nobody will answer. Who was offered the call is released, not auto-paused: a busy desk
is in use, not absent. A decline of an attempt that is no longer the call's (it rang out, was
answered, the caller hung up) changes nothing.
"""

from __future__ import annotations

from frontdesk.common.clinics import require_clinic
from frontdesk.common.contracts import CallDeclined
from frontdesk.common.uow import UnitOfWork

from . import isolation, telemetry
from .adapters import repository
from .domain import lifecycle
from .domain.vendor_isolation import same_clinic
from .handlers import _cancel_timers, _decide_and_apply, _now


async def handle_call_declined(event: CallDeclined, uow: UnitOfWork) -> None:
    await repository.lock_clinic(uow.conn, event.clinic_id)
    row = await repository.get_call(uow.conn, event.call_id, for_update=True)
    isolation.check(event.event_type, None, event.clinic_id, same_clinic(row, event.clinic_id))
    if row is None or not lifecycle.transition(lifecycle.from_row(row), lifecycle.Declined(event.attempt)).accepted:
        return
    clinic = await require_clinic(uow.conn, event.clinic_id)
    await _cancel_timers(uow, event.call_id, event.attempt, hedge=False)
    await repository.release_ringing(uow.conn, event.clinic_id, event.call_id)
    telemetry.DECLINED_OFFERS.labels(event.clinic_id, event.reason).inc()
    await _decide_and_apply(uow, clinic, row, _now(), missed=True)
