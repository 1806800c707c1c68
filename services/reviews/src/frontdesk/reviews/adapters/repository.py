"""reviews' own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.contracts import VisitCompleted
from frontdesk.common.db import Connection


async def record_request(conn: Connection, request_id: str, visit: VisitCompleted, send_at: datetime) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO review_requests (review_request_id, visit_id, patient_id, clinic_id, provider_id, send_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
        request_id,
        visit.visit_id,
        visit.patient_id,
        visit.clinic_id,
        visit.provider_id,
        send_at,
    )
    return inserted is not None


async def for_visit(conn: Connection, visit_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM review_requests WHERE visit_id = $1", visit_id)
    return [dict(r) for r in rows]
