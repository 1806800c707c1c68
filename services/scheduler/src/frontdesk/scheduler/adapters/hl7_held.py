"""HL7 messages held for a clinic not configured yet: holding, reading them back, counting them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row


@dataclass(frozen=True, slots=True)
class Held:
    seq: int
    message: str
    received_at: datetime


async def lock(conn: Connection, clinic_id: str) -> None:
    """Holding and the clinic's configuration arriving take this lock (transaction-scoped), so a message
    held while the configuration is projected is seen by one of the two."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('hl7-held:' || $1, 0))", clinic_id)


async def hold(conn: Connection, clinic_id: str, message: str, limit: int) -> bool:
    """Hold `message` (a resend of it while held is the same row). False: the clinic holds `limit`
    messages already, and this one is not held."""
    digest = hashlib.sha256(message.encode()).hexdigest()
    held: bool = await conn.fetchval(
        "WITH added AS (INSERT INTO hl7_held (clinic_id, digest, message)"
        " SELECT $1, $2, $3 WHERE (SELECT count(*) FROM hl7_held WHERE clinic_id = $1) < $4"
        " ON CONFLICT (clinic_id, digest) DO NOTHING RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM added)"
        " OR EXISTS (SELECT 1 FROM hl7_held WHERE clinic_id = $1 AND digest = $2)",
        clinic_id,
        digest,
        message,
        limit,
    )
    return held


async def any_for(conn: Connection, clinic_id: str) -> bool:
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hl7_held WHERE clinic_id = $1)", clinic_id)
    return found


async def next_after(conn: Connection, clinic_id: str, after: int) -> Held | None:
    """The clinic's oldest held message after `after` (its seq)."""
    row = await conn.fetchrow(
        "SELECT seq, message, received_at FROM hl7_held WHERE clinic_id = $1 AND seq > $2 ORDER BY seq LIMIT 1",
        clinic_id,
        after,
    )
    return None if row is None else from_row(Held, row)


async def remove(conn: Connection, seq: int) -> None:
    await conn.execute("DELETE FROM hl7_held WHERE seq = $1", seq)


async def totals(conn: Connection) -> tuple[int, float]:
    """How many messages are held, and the age in seconds of the oldest (0 when none)."""
    row = await conn.fetchrow(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 FROM hl7_held"
    )
    assert row is not None  # an aggregate has one row
    return int(row[0]), float(row[1])
