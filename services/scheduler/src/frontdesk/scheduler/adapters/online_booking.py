"""The booking page's rows: booking links, booking attempts (their codes as digests) and the hits the
abuse limits count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.online_booking import Claim, Status


@dataclass(frozen=True)
class BookingLink:
    link_id: str
    clinic_id: str
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class Verification:
    verification_id: str
    clinic_id: str
    link_id: str | None
    appointment_id: str
    claim: Claim
    phone_digest: str
    code_digest: str
    attempts: int
    status: Status
    expires_at: datetime


async def insert_link(conn: Connection, link_id: str, clinic_id: str, issued_by: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO booking_links (link_id, clinic_id, issued_by, expires_at) VALUES ($1, $2, $3, $4)",
        link_id,
        clinic_id,
        issued_by,
        expires_at,
    )


async def get_link(conn: Connection, link_id: str, *, lock: bool = False) -> BookingLink | None:
    row = await conn.fetchrow(
        "SELECT link_id, clinic_id, expires_at, used_at FROM booking_links WHERE link_id = $1"
        + (" FOR UPDATE" if lock else ""),
        link_id,
    )
    return from_row(BookingLink, row) if row else None


async def use_link(conn: Connection, link_id: str, appointment_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE booking_links SET used_at = $3, appointment_id = $2 WHERE link_id = $1", link_id, appointment_id, at
    )


async def insert_verification(conn: Connection, v: Verification) -> None:
    await conn.execute(
        "INSERT INTO booking_verifications (verification_id, clinic_id, link_id, appointment_id, claim,"
        " phone_digest, code_digest, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        v.verification_id,
        v.clinic_id,
        v.link_id,
        v.appointment_id,
        v.claim,
        v.phone_digest,
        v.code_digest,
        v.expires_at,
    )


async def get_verification(conn: Connection, verification_id: str, *, lock: bool = False) -> Verification | None:
    row = await conn.fetchrow(
        "SELECT verification_id, clinic_id, link_id, appointment_id, claim, phone_digest, code_digest, attempts,"
        " status, expires_at FROM booking_verifications WHERE verification_id = $1" + (" FOR UPDATE" if lock else ""),
        verification_id,
    )
    return from_row(Verification, row) if row else None


async def lock_verification(conn: Connection, verification_id: str) -> Verification | None:
    return await get_verification(conn, verification_id, lock=True)


async def settle_verification(
    conn: Connection,
    verification_id: str,
    status: Status,
    attempts: int,
    at: datetime,
    patient_id: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE booking_verifications SET status = $2, attempts = $3, patient_id = coalesce($5::text, patient_id),"
        " resolved_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $4::timestamptz END WHERE verification_id = $1",
        verification_id,
        status,
        attempts,
        at,
        patient_id,
    )


async def mark_code_failed(conn: Connection, verification_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE booking_verifications SET code_failure = $2 WHERE verification_id = $1", verification_id, reason
    )


# --- abuse limits --------------------------------------------------------------------------------


async def lock_limit(conn: Connection, kind: str, key: str) -> None:
    """Queue the requests counted under one key (transaction-scoped): two at once cannot both pass."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('booking-limit:' || $1 || ':' || $2))", kind, key)


async def limit_hits(conn: Connection, kind: str, key: str, since: datetime) -> list[datetime]:
    rows = await conn.fetch(
        "SELECT at FROM booking_limit_hits WHERE kind = $1 AND key = $2 AND at > $3", kind, key, since
    )
    return [r["at"] for r in rows]


async def add_hit(conn: Connection, kind: str, key: str, at: datetime, forget_before: datetime) -> None:
    await conn.execute("INSERT INTO booking_limit_hits (kind, key, at) VALUES ($1, $2, $3)", kind, key, at)
    await conn.execute(
        "DELETE FROM booking_limit_hits WHERE kind = $1 AND key = $2 AND at < $3", kind, key, forget_before
    )


# --- the patient behind a confirmed code ---------------------------------------------------------


async def patients_with(conn: Connection, clinic_id: str, phone: str) -> list[tuple[str, str, bool]]:
    """(patient_id, display_name, linked to this clinic) of every patient on file with this number,
    however it was written (`+1 (415) 555-0123` and `+14155550123` are the same number)."""
    rows = await conn.fetch(
        "SELECT p.patient_id, coalesce(p.display_name, '') AS name,"
        " EXISTS (SELECT 1 FROM patient_clinics c WHERE c.patient_id = p.patient_id AND c.clinic_id = $1)"
        " OR EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.patient_id AND a.clinic_id = $1) AS linked"
        " FROM patients p WHERE regexp_replace(p.phone, '[^0-9]', '', 'g') = $2 ORDER BY p.patient_id",
        clinic_id,
        phone.lstrip("+"),
    )
    return [(r["patient_id"], r["name"], r["linked"]) for r in rows]


async def bind_hold(conn: Connection, appointment_id: str, patient_id: str) -> None:
    """The hold was made before anyone knew who books it: it is theirs once their code is right."""
    await conn.execute(
        "UPDATE appointments SET patient_id = $2, updated_at = now() WHERE appointment_id = $1 AND status = 'pending'",
        appointment_id,
        patient_id,
    )
