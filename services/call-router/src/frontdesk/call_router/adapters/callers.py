"""SQL for callers' sealed numbers (migrations/009)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.db import Connection


async def upsert(
    conn: Connection, clinic_id: str, caller_token: str, sealed: dict[str, Any], now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO callers (clinic_id, caller_token, sealed, registered_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (clinic_id, caller_token) DO UPDATE SET sealed = EXCLUDED.sealed,"
        " registered_at = EXCLUDED.registered_at, expires_at = EXCLUDED.expires_at",
        clinic_id,
        caller_token,
        sealed,
        now,
        expires_at,
    )


async def delete(conn: Connection, clinic_id: str, caller_token: str) -> bool:
    deleted = await conn.execute(
        "DELETE FROM callers WHERE clinic_id = $1 AND caller_token = $2", clinic_id, caller_token
    )
    return bool(deleted != "DELETE 0")


async def delete_expired(conn: Connection, now: datetime) -> int:
    """Delete every expired row; how many went."""
    deleted = await conn.execute("DELETE FROM callers WHERE expires_at <= $1", now)
    return int(deleted.split()[-1])
