"""followup's own tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.contracts import VisitCompleted
from frontdesk.common.db import Connection


async def plan(conn: Connection, visit: VisitCompleted, kind: str, due_at: datetime) -> str | None:
    """Plan one follow-up for a visit; None if the visit already has one of this kind."""
    followup_id = f"fu-{kind}-{visit.visit_id}"
    inserted = await conn.fetchval(
        "INSERT INTO followups (followup_id, kind, visit_id, patient_id, clinic_id, due_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
        followup_id,
        kind,
        visit.visit_id,
        visit.patient_id,
        visit.clinic_id,
        due_at,
    )
    return followup_id if inserted else None


async def for_patient(conn: Connection, patient_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM followups WHERE patient_id = $1 ORDER BY due_at", patient_id)
    return [dict(r) for r in rows]
