"""What the read API reports: a call as stored, a clinic's receptionists and its calls by hour."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.db import Connection


async def call_document(conn: Connection, call_id: str) -> dict[str, Any] | None:
    """The call's row, every column, as GET /v1/calls/{call_id} shows it."""
    row = await conn.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    return dict(row) if row else None


async def agents_of(conn: Connection, clinic_id: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    """The clinic's receptionists as the router sees them, after the receptionist id `after`."""
    rows = await conn.fetch(
        "SELECT * FROM agents WHERE clinic_id = $1 AND ($2::text IS NULL OR receptionist_id > $2)"
        " ORDER BY receptionist_id LIMIT $3",
        clinic_id,
        after,
        limit,
    )
    return [dict(r) for r in rows]


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def calls_between(conn: Connection, clinic_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT received_at, answered_at, abandoned_at, ended_at, overflowed_at IS NOT NULL AS overflowed,"
        " after_hours, missed_offers FROM calls WHERE clinic_id = $1 AND received_at >= $2 AND received_at < $3"
        " ORDER BY received_at",
        clinic_id,
        start,
        end,
    )
    return [dict(r) for r in rows]
