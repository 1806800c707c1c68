"""The waitlist and its offers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.db import Connection

from ..domain.slots import Interval


async def join(
    conn: Connection,
    waitlist_id: str,
    clinic_id: str,
    patient_id: str,
    appointment_type: str,
    provider_id: str | None,
    window: Interval,
    priority: int,
) -> dict[str, Any]:
    """Add the entry (once per id) and return it as stored."""
    await conn.execute(
        "INSERT INTO waitlist (waitlist_id, clinic_id, patient_id, appointment_type, provider_id, window_start,"
        " window_end, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (waitlist_id) DO NOTHING",
        waitlist_id,
        clinic_id,
        patient_id,
        appointment_type,
        provider_id,
        window.start,
        window.end,
        priority,
    )
    row = await conn.fetchrow("SELECT * FROM waitlist WHERE waitlist_id = $1", waitlist_id)
    assert row is not None
    return dict(row)


async def waiting_for(
    conn: Connection,
    clinic_id: str,
    provider_id: str,
    appointment_type: str,
    slot: Interval,
    exclude_patient: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The best-ranked waiting entries the slot fits that were not offered this slot before."""
    rows = await conn.fetch(
        "SELECT w.* FROM waitlist w WHERE w.clinic_id = $1 AND w.status = 'waiting' AND w.appointment_type = $2"
        " AND (w.provider_id IS NULL OR w.provider_id = $3) AND w.window_start <= $4 AND w.window_end >= $5"
        " AND w.patient_id IS DISTINCT FROM $6"
        " AND NOT EXISTS (SELECT 1 FROM waitlist_offers o WHERE o.waitlist_id = w.waitlist_id"
        "   AND o.provider_id = $3 AND o.starts_at = $4)"
        " ORDER BY w.priority DESC, w.created_at, w.waitlist_id LIMIT $7",
        clinic_id,
        appointment_type,
        provider_id,
        slot.start,
        slot.end,
        exclude_patient,
        limit,
    )
    return [dict(r) for r in rows]


async def add_offer(
    conn: Connection,
    offer_id: str,
    batch_id: str,
    waitlist_id: str,
    clinic_id: str,
    provider_id: str,
    appointment_type: str,
    slot: Interval,
    expires: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO waitlist_offers (offer_id, batch_id, waitlist_id, clinic_id, provider_id, appointment_type,"
        " starts_at, ends_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        offer_id,
        batch_id,
        waitlist_id,
        clinic_id,
        provider_id,
        appointment_type,
        slot.start,
        slot.end,
        expires,
    )


async def close_offer(conn: Connection, offer_id: str, outcome: str, appointment_id: str | None) -> None:
    await conn.execute(
        "UPDATE waitlist_offers SET status = $2, appointment_id = $3 WHERE offer_id = $1",
        offer_id,
        outcome,
        appointment_id,
    )


async def patient_of(conn: Connection, waitlist_id: str) -> str | None:
    patient_id: str | None = await conn.fetchval("SELECT patient_id FROM waitlist WHERE waitlist_id = $1", waitlist_id)
    return patient_id


async def provider_of_offer(conn: Connection, offer_id: str) -> str | None:
    provider_id: str | None = await conn.fetchval(
        "SELECT provider_id FROM waitlist_offers WHERE offer_id = $1", offer_id
    )
    return provider_id


async def lock_offer(conn: Connection, offer_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM waitlist_offers WHERE offer_id = $1 FOR UPDATE", offer_id)
    return dict(row) if row else None


async def lock_entry(conn: Connection, waitlist_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM waitlist WHERE waitlist_id = $1 FOR UPDATE", waitlist_id)
    return dict(row) if row else None


async def mark_booked(conn: Connection, waitlist_id: str, appointment_id: str) -> None:
    await conn.execute(
        "UPDATE waitlist SET status = 'booked', appointment_id = $2 WHERE waitlist_id = $1",
        waitlist_id,
        appointment_id,
    )


async def lock_other_open_offers(
    conn: Connection, provider_id: str, starts_at: datetime, offer_id: str
) -> list[dict[str, Any]]:
    """The other open offers of the same slot, locked."""
    rows = await conn.fetch(
        "SELECT * FROM waitlist_offers WHERE provider_id = $1 AND starts_at = $2 AND status = 'open'"
        " AND offer_id <> $3 FOR UPDATE",
        provider_id,
        starts_at,
        offer_id,
    )
    return [dict(r) for r in rows]


async def lock_open_batch(conn: Connection, batch_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM waitlist_offers WHERE batch_id = $1 AND status = 'open' FOR UPDATE", batch_id
    )
    return [dict(r) for r in rows]


async def lapse(conn: Connection, appointment_id: str) -> None:
    """The entry booked into this appointment lapses (its hold expired unconfirmed)."""
    await conn.execute(
        "UPDATE waitlist SET status = 'lapsed' WHERE appointment_id = $1 AND status = 'booked'", appointment_id
    )
