"""HL7 messages that came before their clinic's configuration are applied when it arrives.

1. `hl7.receive` holds a message for a clinic not configured yet (hl7_held table) and answers AA with
   a warning: an interface engine turned on before the clinic was applied loses nothing.
2. The clinic's configuration arrives: after projecting it, a durable timer is set if messages wait.
3. The timer applies them in arrival order, each in a savepoint of its own; what the rules refuse
   now is quarantined for staff (the sender heard AA). One that fails stays held, counted, alerted
   on (FrontdeskHl7Held), and is tried again at the clinic's next configuration: never lost.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from frontdesk.common.clinics import project_clinic
from frontdesk.common.contracts import ClinicConfigured
from frontdesk.common.db import TRANSIENT_DB_ERRORS
from frontdesk.common.logging import get_logger
from frontdesk.common.service import ServiceRuntime
from frontdesk.common.timer_payloads import Hl7HeldTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork, transaction

from . import hl7, telemetry
from .adapters import hl7_held as held_store
from .adapters.clinics import clinic_of

log = get_logger(__name__)
REPORT_SECONDS = 15.0


async def handle_clinic_configured(event: ClinicConfigured, uow: UnitOfWork) -> None:
    """Project the clinic, then have the messages held for it applied (on a timer: none is applied in
    the consumer's transaction, where one failing would hold up the configuration itself)."""
    await project_clinic(event, uow)
    await held_store.lock(uow.conn, event.clinic_id)
    if await held_store.any_for(uow.conn, event.clinic_id):
        timer = Hl7HeldTimer(clinic_id=event.clinic_id)
        await uow.set_timer(f"hl7-held:{event.clinic_id}", datetime.now(UTC), timer)


async def on_held_due(timer: Timer[Hl7HeldTimer], uow: UnitOfWork) -> None:
    clinic = await clinic_of(uow, timer.payload.clinic_id)
    if clinic is None:  # cannot happen after a projection; the messages wait for the next one
        return
    after = 0
    while (held := await held_store.next_after(uow.conn, clinic.clinic_id, after)) is not None:
        after = held.seq
        try:
            async with transaction(uow.conn, uow.source, uow.trace.child()) as applying:
                await held_store.remove(applying.conn, held.seq)
                outcome, answer = await hl7.apply(applying, clinic, held.message, held=True)
        except TRANSIENT_DB_ERRORS:
            raise  # the timer is retried
        except Exception:
            log.exception("a held hl7 message failed; it stays held", clinic_id=clinic.clinic_id)
            continue
        log.info("held hl7 message applied", clinic_id=clinic.clinic_id, outcome=outcome, ack=answer.code)


async def report_held(runtime: ServiceRuntime) -> None:
    """Every few seconds: how many messages are held, and the age of the oldest."""
    while True:
        try:
            assert runtime.pool is not None
            async with runtime.pool.acquire() as conn:
                count, oldest = await held_store.totals(conn)
            telemetry.HL7_HELD.set(count)
            telemetry.HL7_HELD_OLDEST.set(oldest)
        except TRANSIENT_DB_ERRORS:
            pass  # the next round reads them again
        await asyncio.sleep(REPORT_SECONDS)
