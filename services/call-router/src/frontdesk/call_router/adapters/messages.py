"""SQL for vendor messages, on-call paging and the routine digest (migrations/006)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.contracts import VendorMessageTaken
from frontdesk.common.db import Connection


async def insert_message(
    conn: Connection, m: VendorMessageTaken, *, status: str, digest_id: str | None, now: datetime
) -> bool:
    """Store a message once (by message_id); False if it was already known."""
    inserted = await conn.fetchval(
        "INSERT INTO vendor_messages (message_id, clinic_id, vendor_id, call_id, caller_token, patient_id, urgency,"
        " category, callback_needed, taken_at, status, digest_id, paging_started_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        " ON CONFLICT (message_id) DO NOTHING RETURNING 1",
        m.message_id,
        m.clinic_id,
        m.vendor_id,
        m.call_id,
        m.caller_token,
        m.patient_id,
        m.urgency,
        m.category,
        m.callback_needed,
        m.taken_at,
        status,
        digest_id,
        now if status == "paging" else None,
    )
    return inserted is not None


async def get_message(conn: Connection, message_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM vendor_messages WHERE message_id = $1" + (" FOR UPDATE" if for_update else ""), message_id
    )
    return dict(row) if row else None


async def page_requested(conn: Connection, message_id: str, page_id: str, timer_key: str | None) -> None:
    await conn.execute(
        "UPDATE vendor_messages SET pages_requested = pages_requested + 1, last_page_id = $2, page_timer_key = $3"
        " WHERE message_id = $1",
        message_id,
        page_id,
        timer_key,
    )


async def paging_stopped(conn: Connection, message_id: str) -> None:
    """Paging stops unacknowledged (the roster was emptied): no page is pending any more."""
    await conn.execute("UPDATE vendor_messages SET page_timer_key = NULL WHERE message_id = $1", message_id)


async def page_sent(conn: Connection, message_id: str) -> None:
    await conn.execute("UPDATE vendor_messages SET pages_sent = pages_sent + 1 WHERE message_id = $1", message_id)


async def acknowledge(conn: Connection, message_id: str, by: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE vendor_messages SET status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2,"
        " page_timer_key = NULL WHERE message_id = $1",
        message_id,
        by,
        at,
    )


async def open_digest(conn: Connection, digest_id: str, clinic_id: str, due_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO message_digests (digest_id, clinic_id, due_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        digest_id,
        clinic_id,
        due_at,
    )


async def digest(conn: Connection, digest_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM message_digests WHERE digest_id = $1" + (" FOR UPDATE" if for_update else ""), digest_id
    )
    return dict(row) if row else None


async def release_digest(conn: Connection, digest_id: str, at: datetime) -> list[str]:
    """Mark the digest released and its pending messages delivered; return their ids (oldest first)."""
    await conn.execute("UPDATE message_digests SET released_at = $2 WHERE digest_id = $1", digest_id, at)
    rows = await conn.fetch(
        "UPDATE vendor_messages SET status = 'delivered', delivered_at = $2"
        " WHERE digest_id = $1 AND status = 'pending' RETURNING message_id, taken_at",
        digest_id,
        at,
    )
    return [r["message_id"] for r in sorted(rows, key=lambda r: (r["taken_at"], r["message_id"]))]


async def clinic_digest(
    conn: Connection, clinic_id: str, *, include_acknowledged: bool, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The clinic's delivered routine messages, after the (taken_at, message_id) `after`."""
    rows = await conn.fetch(
        "SELECT message_id, digest_id, vendor_id, call_id, patient_id, urgency, category, callback_needed, taken_at,"
        " delivered_at, status, acknowledged_at, acknowledged_by FROM vendor_messages"
        " WHERE clinic_id = $1 AND urgency = 'routine' AND status IN ('delivered', 'acknowledged')"
        " AND ($2 OR status = 'delivered') AND ($3::timestamptz IS NULL OR (taken_at, message_id) > ($3, $4))"
        " ORDER BY taken_at, message_id LIMIT $5",
        clinic_id,
        include_acknowledged,
        *after,
        limit,
    )
    return [dict(r) for r in rows]


async def touch_heartbeat(conn: Connection, vendor_id: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO vendor_health (vendor_id, last_heartbeat_at) VALUES ($1, $2) ON CONFLICT (vendor_id) DO UPDATE"
        " SET last_heartbeat_at = GREATEST(vendor_health.last_heartbeat_at, $2)",
        vendor_id,
        at,
    )
