"""The waitlist and its offers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.slots import Interval
from ..domain.waitlist import WaitlistEntry, WaitlistOffer


async def join(
    conn: Connection,
    waitlist_id: str,
    clinic_id: str,
    patient_id: str,
    appointment_type: str,
    provider_id: str | None,
    window: Interval,
    priority: int,
) -> WaitlistEntry:
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
    return from_row(WaitlistEntry, row)


async def waiting_for(
    conn: Connection,
    clinic_id: str,
    provider_id: str,
    appointment_type: str,
    slot: Interval,
    exclude_patient: str | None,
    limit: int,
) -> list[WaitlistEntry]:
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
    return [from_row(WaitlistEntry, r) for r in rows]


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


async def lock_offer(conn: Connection, offer_id: str) -> WaitlistOffer | None:
    row = await conn.fetchrow("SELECT * FROM waitlist_offers WHERE offer_id = $1 FOR UPDATE", offer_id)
    return from_row(WaitlistOffer, row) if row else None


async def lock_entry(conn: Connection, waitlist_id: str) -> WaitlistEntry | None:
    row = await conn.fetchrow("SELECT * FROM waitlist WHERE waitlist_id = $1 FOR UPDATE", waitlist_id)
    return from_row(WaitlistEntry, row) if row else None


async def mark_booked(conn: Connection, waitlist_id: str, appointment_id: str) -> None:
    await conn.execute(
        "UPDATE waitlist SET status = 'booked', appointment_id = $2 WHERE waitlist_id = $1",
        waitlist_id,
        appointment_id,
    )


async def lock_other_open_offers(
    conn: Connection, provider_id: str, starts_at: datetime, offer_id: str
) -> list[WaitlistOffer]:
    """The other open offers of the same slot, locked."""
    rows = await conn.fetch(
        "SELECT * FROM waitlist_offers WHERE provider_id = $1 AND starts_at = $2 AND status = 'open'"
        " AND offer_id <> $3 FOR UPDATE",
        provider_id,
        starts_at,
        offer_id,
    )
    return [from_row(WaitlistOffer, r) for r in rows]


async def lock_open_batch(conn: Connection, batch_id: str) -> list[WaitlistOffer]:
    rows = await conn.fetch(
        "SELECT * FROM waitlist_offers WHERE batch_id = $1 AND status = 'open' FOR UPDATE", batch_id
    )
    return [from_row(WaitlistOffer, r) for r in rows]


async def lapse(conn: Connection, appointment_id: str) -> None:
    """The entry booked into this appointment lapses (its hold expired unconfirmed)."""
    await conn.execute(
        "UPDATE waitlist SET status = 'lapsed' WHERE appointment_id = $1 AND status = 'booked'", appointment_id
    )


# --- the patient's offer page ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownOffer:
    """An offer as the patient's page shows it, with the status of the hold it became (if any)."""

    status: str
    clinic_id: str
    provider_id: str
    starts_at: datetime
    expires_at: datetime
    appointment_id: str | None
    appointment_status: str | None


@dataclass(frozen=True, slots=True)
class OfferEntry:
    """An offer with its waitlist entry (the patient's window and whether they are still waiting)."""

    offer_id: str
    status: str
    clinic_id: str
    provider_id: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    waitlist_id: str
    patient_id: str
    entry_status: str
    window_start: datetime
    window_end: datetime


async def shown_offer(conn: Connection, offer_id: str) -> ShownOffer | None:
    row = await conn.fetchrow(
        "SELECT o.status, o.clinic_id, o.provider_id, o.starts_at, o.expires_at, o.appointment_id,"
        " a.status AS appointment_status"
        " FROM waitlist_offers o LEFT JOIN appointments a ON a.appointment_id = o.appointment_id"
        " WHERE o.offer_id = $1",
        offer_id,
    )
    return from_row(ShownOffer, row) if row else None


async def offer_entry(conn: Connection, offer_id: str, *, lock: bool = False) -> OfferEntry | None:
    row = await conn.fetchrow(
        "SELECT o.offer_id, o.status, o.clinic_id, o.provider_id, o.appointment_type, o.starts_at, o.ends_at,"
        " w.waitlist_id, w.patient_id, w.status AS entry_status, w.window_start, w.window_end"
        " FROM waitlist_offers o JOIN waitlist w USING (waitlist_id) WHERE o.offer_id = $1"
        + (" FOR UPDATE OF o, w" if lock else ""),
        offer_id,
    )
    return from_row(OfferEntry, row) if row else None


async def first_offered_at(conn: Connection, provider_id: str, starts_at: datetime) -> datetime | None:
    """When the slot was first offered to anyone."""
    first: datetime | None = await conn.fetchval(
        "SELECT min(created_at) FROM waitlist_offers WHERE provider_id = $1 AND starts_at = $2", provider_id, starts_at
    )
    return first
