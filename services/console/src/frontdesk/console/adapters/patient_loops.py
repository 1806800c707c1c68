"""SQL of the patient loops' report: the moves patients made on their page, the freed slots offered
to the waitlist and the reschedule requests handled, per clinic since an instant."""

from __future__ import annotations

from datetime import datetime

from frontdesk.common.db import Connection

from ..domain.patient_loops import HANDLERS, FreedSlot, HandledBy


async def self_rescheduled(
    conn: Connection, appointment_id: str, starts_at: datetime, clinic_id: str, handled_by: str, moved_at: datetime
) -> None:
    """One move (to `starts_at`) a patient made on their reschedule page: a repeat changes nothing."""
    await conn.execute(
        "INSERT INTO console_self_reschedules (appointment_id, starts_at, clinic_id, handled_by, moved_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        appointment_id,
        starts_at,
        clinic_id,
        handled_by,
        moved_at,
    )


async def freed_slots(conn: Connection, clinic_id: str, since: datetime) -> list[FreedSlot]:
    """Each slot (provider, start) first offered since `since`, with its refill: an accepted offer whose
    appointment the console saw booked (appointment.booked gives the type; a lapsed hold never does).
    A slot is offered before it starts, so only slots starting after `since` are read."""
    rows = await conn.fetch(
        "SELECT min(o.offered_at) AS first_offered_at, min(o.closed_at) FILTER (WHERE o.outcome = 'accepted'"
        "  AND a.appointment_type IS NOT NULL) AS refilled_at"
        " FROM console_waitlist_offers o LEFT JOIN console_appointments a ON a.appointment_id = o.appointment_id"
        " WHERE o.clinic_id = $1 AND o.starts_at >= $2 AND o.provider_id IS NOT NULL"
        " GROUP BY o.provider_id, o.starts_at HAVING min(o.offered_at) >= $2",
        clinic_id,
        since,
    )
    return [FreedSlot(r["first_offered_at"], r["refilled_at"]) for r in rows]


async def handled(conn: Connection, clinic_id: str, since: datetime) -> dict[HandledBy, int]:
    """Reschedule requests handled since `since`: moved by the patient on their page (after a "3" or
    from a reminder's link), or left to staff (a task opened)."""
    rows = await conn.fetch(
        "SELECT handled_by, count(*) AS n FROM console_self_reschedules WHERE clinic_id = $1 AND moved_at >= $2"
        " GROUP BY handled_by UNION ALL SELECT 'staff', count(*) FROM console_reschedule_tasks"
        " WHERE clinic_id = $1 AND opened_at >= $2",
        clinic_id,
        since,
    )
    return {who: r["n"] for r in rows for who in HANDLERS if r["handled_by"] == who}
