"""SQL of the appointments (today's schedule, the no-show rate): one home.

Each event fills its own columns and keeps the first value it saw; a reschedule moves the times
(scheduler's events of one appointment share a key, so a topic delivers them in order).
"""

from __future__ import annotations

from datetime import datetime

from frontdesk.common.db import Connection

from ..domain.schedule import Appointment, Hold

_COLUMNS = (
    "appointment_id, provider_id, appointment_type, starts_at, ends_at, rescheduled, cancelled_at, late_cancel,"
    " checked_in_at, no_show, completed_at"
)


async def fact(conn: Connection, appointment_id: str, clinic_id: str, **columns: object) -> None:
    """Facts of one appointment: each column keeps the first value it saw."""
    names = list(columns)
    placeholders = ", ".join(f"${i + 3}" for i in range(len(names)))
    keep_first = ", ".join(f"{n} = COALESCE(console_appointments.{n}, EXCLUDED.{n})" for n in names)
    await conn.execute(
        f"INSERT INTO console_appointments (appointment_id, clinic_id, {', '.join(names)})"
        f" VALUES ($1, $2, {placeholders}) ON CONFLICT (appointment_id) DO UPDATE SET {keep_first}",
        appointment_id,
        clinic_id,
        *[columns[n] for n in names],
    )


async def rescheduled(
    conn: Connection, appointment_id: str, clinic_id: str, provider_id: str, starts_at: datetime, ends_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO console_appointments (appointment_id, clinic_id, provider_id, starts_at, ends_at, rescheduled)"
        " VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (appointment_id) DO UPDATE SET"
        " provider_id = EXCLUDED.provider_id, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,"
        " rescheduled = true",
        appointment_id,
        clinic_id,
        provider_id,
        starts_at,
        ends_at,
    )


async def starting_between(conn: Connection, clinic_id: str, start: datetime, end: datetime) -> list[Appointment]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM console_appointments WHERE clinic_id = $1 AND starts_at >= $2 AND starts_at < $3",
        clinic_id,
        start,
        end,
    )
    return [Appointment(**dict(r)) for r in rows]


async def held(conn: Connection, clinic_id: str, hold: Hold) -> None:
    """A hold's facts never change: a repeat changes nothing."""
    await conn.execute(
        "INSERT INTO console_holds (appointment_id, clinic_id, provider_id, appointment_type, starts_at, ends_at,"
        " held_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (appointment_id) DO NOTHING",
        hold.appointment_id,
        clinic_id,
        hold.provider_id,
        hold.appointment_type,
        hold.starts_at,
        hold.ends_at,
        hold.held_at,
        hold.expires_at,
    )


async def holds_in_force(conn: Connection, clinic_id: str, now: datetime) -> list[Hold]:
    """Holds not expired at `now` whose appointment has no later fact (booked, cancelled), soonest to lapse first."""
    rows = await conn.fetch(
        "SELECT h.appointment_id, h.provider_id, h.appointment_type, h.starts_at, h.ends_at, h.held_at, h.expires_at"
        " FROM console_holds h WHERE h.clinic_id = $1 AND h.expires_at > $2 AND NOT EXISTS"
        " (SELECT 1 FROM console_appointments a WHERE a.appointment_id = h.appointment_id)"
        " ORDER BY h.expires_at, h.appointment_id LIMIT 200",
        clinic_id,
        now,
    )
    return [Hold(**dict(r)) for r in rows]
