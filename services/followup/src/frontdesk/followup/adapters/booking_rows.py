"""The rows of what a clinic's booking page asks of followup: what became of each one-time code
(`booking_code_messages`), of each number a patient proved with one (`verified_contacts`) and of each
booking link texted to a caller (`booking_link_messages`, with a keyed digest of the number for its
caps). None holds a number or a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection


@dataclass(frozen=True)
class CodeMessage:
    verification_id: str
    clinic_id: str
    status: str  # sent, skipped, failed
    reason: str | None


async def code_decided(conn: Connection, verification_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM booking_code_messages WHERE verification_id = $1", verification_id))


async def record_code(
    conn: Connection,
    verification_id: str,
    clinic_id: str,
    status: str,
    reason: str | None,
    provider_message_id: str | None = None,
) -> bool:
    """What became of a code; False if it was decided before (the first decision stands)."""
    done = await conn.execute(
        "INSERT INTO booking_code_messages (verification_id, clinic_id, status, reason, provider_message_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (verification_id) DO NOTHING",
        verification_id,
        clinic_id,
        status,
        reason,
        provider_message_id,
    )
    return bool(done != "INSERT 0 0")


async def codes_sent_since(conn: Connection, clinic_id: str, since: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM booking_code_messages WHERE clinic_id = $1 AND status = 'sent' AND decided_at >= $2",
        clinic_id,
        since,
    )
    return count


async def fail_sent_code(conn: Connection, provider_message_id: str, reason: str) -> CodeMessage | None:
    """A sent code the provider reports undelivered: it becomes failed (once); None if it is not a code's
    message, or was reported before."""
    row = await conn.fetchrow(
        "UPDATE booking_code_messages SET status = 'failed', reason = $2"
        " WHERE provider_message_id = $1 AND status = 'sent' RETURNING verification_id, clinic_id, status, reason",
        provider_message_id,
        reason,
    )
    return CodeMessage(**dict(row)) if row else None


async def is_code_message(conn: Connection, provider_message_id: str) -> bool:
    return bool(
        await conn.fetchval("SELECT 1 FROM booking_code_messages WHERE provider_message_id = $1", provider_message_id)
    )


async def verified_contact_seen(conn: Connection, verification_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM verified_contacts WHERE verification_id = $1", verification_id))


async def record_verified_contact(
    conn: Connection, verification_id: str, patient_id: str, clinic_id: str, outcome: str
) -> None:
    await conn.execute(
        "INSERT INTO verified_contacts (verification_id, patient_id, clinic_id, outcome) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (verification_id) DO NOTHING",
        verification_id,
        patient_id,
        clinic_id,
        outcome,
    )


# --- booking links texted to callers --------------------------------------------------------------


async def link_decided(conn: Connection, link_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM booking_link_messages WHERE link_id = $1", link_id))


async def record_link(
    conn: Connection,
    link_id: str,
    clinic_id: str,
    number_digest: str | None,
    status: str,
    reason: str | None = None,
    provider_message_id: str | None = None,
) -> bool:
    """What became of a booking link's text; False if it was decided before (the first decision stands)."""
    done = await conn.execute(
        "INSERT INTO booking_link_messages (link_id, clinic_id, number_digest, status, reason, provider_message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (link_id) DO NOTHING",
        link_id,
        clinic_id,
        number_digest,
        status,
        reason,
        provider_message_id,
    )
    return bool(done != "INSERT 0 0")


async def lock_number(conn: Connection, number_digest: str) -> None:
    """Queue the decisions about texting one number (transaction-scoped)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "followup-number:" + number_digest)


async def links_sent_to(conn: Connection, number_digest: str, since: datetime) -> list[datetime]:
    rows = await conn.fetch(
        "SELECT decided_at FROM booking_link_messages WHERE number_digest = $1 AND status = 'sent' AND decided_at > $2",
        number_digest,
        since,
    )
    return [r["decided_at"] for r in rows]


async def links_sent_since(conn: Connection, clinic_id: str, since: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM booking_link_messages WHERE clinic_id = $1 AND status = 'sent' AND decided_at >= $2",
        clinic_id,
        since,
    )
    return count


async def link_receipt(conn: Connection, provider_message_id: str, status: str) -> bool:
    """A delivery receipt for a booking link's text (False: not a link's)."""
    updated = await conn.execute(
        "UPDATE booking_link_messages SET receipt_status = $2 WHERE provider_message_id = $1",
        provider_message_id,
        status,
    )
    return bool(updated != "UPDATE 0")
