"""call-router's own tables."""

from __future__ import annotations

from typing import Any

from frontdesk.common.contracts import CallReceived
from frontdesk.common.db import Connection

from ..domain import RouteDecision


async def record_route(conn: Connection, call: CallReceived, decision: RouteDecision) -> bool:
    """Store the call and its route; False if the call was already routed."""
    inserted = await conn.fetchval(
        "INSERT INTO calls (call_id, clinic_id, received_at, intent, target_kind, target_id, reason, answer_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_id) DO NOTHING RETURNING 1",
        call.call_id,
        call.clinic_id,
        call.received_at,
        call.intent,
        decision.target_kind,
        decision.target_id,
        decision.reason,
        decision.answer_by,
    )
    return inserted is not None


async def get_call(conn: Connection, call_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    return dict(row) if row else None
