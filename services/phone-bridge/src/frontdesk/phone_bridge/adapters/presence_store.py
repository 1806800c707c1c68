"""The desks' last presence in the bridge's database: kept by the consumer, read back at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.contracts import AgentStatus
from frontdesk.common.db import Connection


@dataclass(frozen=True)
class DeskPresence:
    clinic_id: str
    receptionist_id: str
    status: AgentStatus
    changed_at: datetime


async def save(conn: Connection, presence: DeskPresence) -> None:
    """Keep `presence` unless a later one is stored (events may arrive out of order across topics)."""
    await conn.execute(
        "INSERT INTO desk_presence (clinic_id, receptionist_id, status, changed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (clinic_id, receptionist_id) DO UPDATE SET status = EXCLUDED.status,"
        " changed_at = EXCLUDED.changed_at WHERE desk_presence.changed_at <= EXCLUDED.changed_at",
        presence.clinic_id,
        presence.receptionist_id,
        presence.status,
        presence.changed_at,
    )


async def load(conn: Connection) -> list[DeskPresence]:
    rows = await conn.fetch("SELECT clinic_id, receptionist_id, status, changed_at FROM desk_presence")
    return [DeskPresence(**dict(r)) for r in rows]
