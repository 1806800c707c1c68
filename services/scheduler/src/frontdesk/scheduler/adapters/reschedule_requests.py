"""Reschedule requests: a patient's "3" reply (kind `reply`) and a reminder's link (kind `reminder`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.appointments import Appointment


@dataclass(frozen=True, slots=True)
class RescheduleRequest:
    """A `reschedule_requests` row, as the patient's page and the window's timer need it."""

    reschedule_id: str
    appointment_id: str
    clinic_id: str
    provider_id: str
    kind: str  # reply (a "3"), reminder (a reminder's link)
    status: str  # open, moved, staff, closed
    expires_at: datetime
    new_starts_at: datetime | None


def new_id() -> str:
    return "rs-" + uuid.uuid4().hex[:16]


async def get(conn: Connection, reschedule_id: str, *, lock: bool = False) -> RescheduleRequest | None:
    row = await conn.fetchrow(
        "SELECT * FROM reschedule_requests WHERE reschedule_id = $1" + (" FOR UPDATE" if lock else ""), reschedule_id
    )
    return from_row(RescheduleRequest, row) if row else None


async def open_reply(conn: Connection, reschedule_id: str, appointment: Appointment, expires: datetime) -> bool:
    """Open a "3" request for the appointment; False if one is open already (the first one stands)."""
    inserted = await conn.fetchval(
        "INSERT INTO reschedule_requests (reschedule_id, appointment_id, clinic_id, patient_id, provider_id,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appointment_id, kind) WHERE status = 'open'"
        " DO NOTHING RETURNING 1",
        reschedule_id,
        appointment.appointment_id,
        appointment.clinic_id,
        appointment.patient_id,
        appointment.provider_id,
        expires,
    )
    return inserted is not None


async def reminder_link(conn: Connection, appointment: Appointment) -> str:
    """The id of the appointment's open reminder link, opened now if it has none (open until it starts)."""
    await conn.execute(
        "INSERT INTO reschedule_requests (reschedule_id, appointment_id, clinic_id, patient_id, provider_id,"
        " expires_at, kind) VALUES ($1, $2, $3, $4, $5, $6, 'reminder')"
        " ON CONFLICT (appointment_id, kind) WHERE status = 'open' DO NOTHING",
        new_id(),
        appointment.appointment_id,
        appointment.clinic_id,
        appointment.patient_id,
        appointment.provider_id,
        appointment.starts_at,
    )
    reschedule_id: str = await conn.fetchval(
        "SELECT reschedule_id FROM reschedule_requests WHERE appointment_id = $1 AND kind = 'reminder'"
        " AND status = 'open'",
        appointment.appointment_id,
    )
    return reschedule_id


async def mark_moved(conn: Connection, reschedule_id: str, starts_at: datetime, now: datetime) -> None:
    await conn.execute(
        "UPDATE reschedule_requests SET status = 'moved', new_starts_at = $2, resolved_at = $3"
        " WHERE reschedule_id = $1",
        reschedule_id,
        starts_at,
        now,
    )


async def settle(conn: Connection, reschedule_id: str, status: str, now: datetime, due: datetime | None = None) -> None:
    """The window closed: a staff task (with its deadline `due`), or nothing left to do ("closed")."""
    await conn.execute(
        "UPDATE reschedule_requests SET status = $2, resolved_at = $3, due_at = $4 WHERE reschedule_id = $1",
        reschedule_id,
        status,
        now,
        due,
    )


async def close_open(conn: Connection, appointment_id: str, now: datetime) -> None:
    """The appointment was moved or cancelled: its open reschedule requests are settled (a "3" window
    does not become a staff task, an old reminder's link does not move the new time)."""
    await conn.execute(
        "UPDATE reschedule_requests SET status = 'closed', resolved_at = $2 WHERE appointment_id = $1"
        " AND status = 'open'",
        appointment_id,
        now,
    )
