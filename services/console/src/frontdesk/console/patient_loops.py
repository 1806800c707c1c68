"""The patient loops on the console: the facts (written by the worklists' and the schedule's handlers)
and the clinic's report over its last days (domain/patient_loops.py), shown on its worklists page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from .adapters import patient_loops as store
from .domain.patient_loops import REPORT_DAYS, LoopReport, report, window_start


def emitted_at(uow: UnitOfWork) -> datetime | None:
    """When the producer emitted the event being handled (its CloudEvents time): offers and moves carry
    no time of their own, and a rebuild reads the same time again from the record."""
    return uow.cause.time if uow.cause is not None else None


async def loop_report(conn: Connection, clinic_id: str, zone: ZoneInfo, now: datetime) -> LoopReport:
    """The clinic's figures over its last REPORT_DAYS local days (today included)."""
    since = window_start(now, zone, REPORT_DAYS)
    slots = await store.freed_slots(conn, clinic_id, since)
    return report(slots, await store.handled(conn, clinic_id, since), since, REPORT_DAYS)
