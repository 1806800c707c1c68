"""SQL for the on-call paging of urgent calls (migrations/014). Urgent messages keep theirs in
vendor_messages (adapters/messages.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.db import Connection


async def start(conn: Connection, call_id: str, clinic_id: str, at: datetime) -> bool:
    """Start paging for a call once; False if it was already started."""
    inserted = await conn.fetchval(
        "INSERT INTO call_pages (call_id, clinic_id, status, paging_started_at) VALUES ($1, $2, 'paging', $3)"
        " ON CONFLICT (call_id) DO NOTHING RETURNING 1",
        call_id,
        clinic_id,
        at,
    )
    return inserted is not None


async def get(conn: Connection, call_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM call_pages WHERE call_id = $1" + (" FOR UPDATE" if for_update else ""), call_id
    )
    return dict(row) if row else None


async def page_requested(conn: Connection, call_id: str, page_id: str, timer_key: str | None) -> None:
    await conn.execute(
        "UPDATE call_pages SET pages_requested = pages_requested + 1, last_page_id = $2, page_timer_key = $3"
        " WHERE call_id = $1",
        call_id,
        page_id,
        timer_key,
    )


async def acknowledge(conn: Connection, call_id: str, by: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE call_pages SET status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $2,"
        " page_timer_key = NULL WHERE call_id = $1",
        call_id,
        by,
        at,
    )


async def stop(conn: Connection, call_id: str) -> None:
    """Paging stops unacknowledged (the roster was emptied)."""
    await conn.execute("UPDATE call_pages SET status = 'stopped', page_timer_key = NULL WHERE call_id = $1", call_id)
