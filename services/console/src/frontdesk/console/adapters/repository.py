"""The console's SQL: one home for every statement on its read model.

A call's rows are computed by the projector from its events (domain/call_facts.py) and written per
batch; the other writes keep the first (or newest) value of each fact in SQL: a redelivered or late
event never moves a fact the console already has, in whatever order the events arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.db import Connection

from ..domain.board import Call
from ..domain.call_facts import ROW_COLUMNS, CallRow

_CALL_COLUMNS = (
    "call_id, received_at, offered_at, offered_kind, offered_to, vendor_id, overflowed_at, vendor_answer_by,"
    " answered_at, answered_by_kind, answered_by_id, abandoned_at, ended_at"
)


_TIMES = {"received_at", "offered_at", "overflowed_at", "vendor_answer_by", "answered_at", "abandoned_at", "ended_at"}
_UNNEST = ", ".join(f"${n + 1}::{'timestamptz' if name in _TIMES else 'text'}[]" for n, name in enumerate(ROW_COLUMNS))
_SET_ALL = ", ".join(f"{name} = EXCLUDED.{name}" for name in ROW_COLUMNS if name not in ("call_id", "clinic_id"))


async def call_rows(conn: Connection, call_ids: list[str]) -> dict[str, CallRow]:
    """The rows of these calls that the read model has."""
    rows = await conn.fetch(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM console_calls WHERE call_id = ANY($1::text[])", call_ids
    )
    return {r["call_id"]: CallRow(*r) for r in rows}


async def write_calls(conn: Connection, rows: list[CallRow]) -> None:
    """The calls' rows as the projector computed them (it read them under its turn: nobody wrote
    them since), in one statement, in call order."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda r: r.call_id)
    await conn.execute(
        f"INSERT INTO console_calls ({', '.join(ROW_COLUMNS)}) SELECT * FROM unnest({_UNNEST})"
        f" ON CONFLICT (call_id) DO UPDATE SET {_SET_ALL}",
        *([getattr(r, name) for r in ordered] for name in ROW_COLUMNS),
    )


async def agent_status(
    conn: Connection, clinic_id: str, receptionist_id: str, status: str, reason: str | None, at: datetime
) -> None:
    """The newest status wins; an older one arriving late changes nothing."""
    await conn.execute(
        "INSERT INTO console_agents (clinic_id, receptionist_id, status, reason, changed_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (clinic_id, receptionist_id) DO UPDATE SET"
        " status = EXCLUDED.status, reason = EXCLUDED.reason, changed_at = EXCLUDED.changed_at"
        " WHERE console_agents.changed_at <= EXCLUDED.changed_at",
        clinic_id,
        receptionist_id,
        status,
        reason,
        at,
    )


async def callback_requested(
    conn: Connection, callback_id: str, clinic_id: str, reason: str, urgency: str, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO console_callbacks (callback_id, clinic_id, reason, urgency, requested_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (callback_id) DO UPDATE SET"
        # its plan or completion may have arrived first (adapters/worklists.py): fill in the request
        " reason = COALESCE(console_callbacks.reason, EXCLUDED.reason),"
        " urgency = COALESCE(console_callbacks.urgency, EXCLUDED.urgency),"
        " requested_at = COALESCE(console_callbacks.requested_at, EXCLUDED.requested_at)",
        callback_id,
        clinic_id,
        reason,
        urgency,
        at,
    )


async def touch(conn: Connection, clinic_ids: list[str]) -> None:
    """Events of these clinics arrived: their live pages refresh, and they are no longer stale. One
    bump per clinic and batch, in clinic order (writers never wait on each other in a cycle)."""
    await conn.execute(
        "INSERT INTO console_activity (clinic_id, version, last_event_at)"
        " SELECT c, 1, now() FROM unnest($1::text[]) AS c ORDER BY c"
        " ON CONFLICT (clinic_id) DO UPDATE SET version = console_activity.version + 1, last_event_at = now()",
        sorted(clinic_ids),
    )


# --- reads --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    receptionist_id: str
    status: str
    reason: str | None
    changed_at: datetime


@dataclass(frozen=True)
class Activity:
    version: int
    last_event_at: datetime | None


def _call(row: object) -> Call:
    return Call(**dict(row))  # type: ignore[call-overload]


async def clinic_calls(conn: Connection, clinic_id: str) -> list[Call]:
    rows = await conn.fetch(f"SELECT {_CALL_COLUMNS} FROM console_calls WHERE clinic_id = $1", clinic_id)
    return [_call(r) for r in rows]


async def handed_over(conn: Connection, clinic_id: str, start: datetime, end: datetime, limit: int = 50) -> list[Call]:
    """The calls of a period handed to a vendor, newest hand-over first."""
    rows = await conn.fetch(
        f"SELECT {_CALL_COLUMNS} FROM console_calls WHERE clinic_id = $1 AND received_at >= $2 AND received_at < $3"
        " AND overflowed_at IS NOT NULL ORDER BY overflowed_at DESC, call_id LIMIT $4",
        clinic_id,
        start,
        end,
        limit,
    )
    return [_call(r) for r in rows]


async def open_calls(conn: Connection, clinic_id: str, limit: int = 200) -> list[Call]:
    """Calls not over yet (neither ended nor abandoned), oldest first."""
    rows = await conn.fetch(
        f"SELECT {_CALL_COLUMNS} FROM console_calls WHERE clinic_id = $1 AND ended_at IS NULL"
        " AND abandoned_at IS NULL ORDER BY received_at NULLS LAST, call_id LIMIT $2",
        clinic_id,
        limit,
    )
    return [_call(r) for r in rows]


async def agents(conn: Connection, clinic_id: str) -> list[Agent]:
    rows = await conn.fetch(
        "SELECT receptionist_id, status, reason, changed_at FROM console_agents WHERE clinic_id = $1"
        " ORDER BY receptionist_id",
        clinic_id,
    )
    return [Agent(**dict(r)) for r in rows]


async def callbacks_since(conn: Connection, clinic_id: str, since: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM console_callbacks WHERE clinic_id = $1 AND requested_at >= $2", clinic_id, since
    )
    return count


async def callbacks_since_each(conn: Connection, since: dict[str, datetime]) -> dict[str, int]:
    """Per clinic: callbacks asked for since its own instant (its local midnight)."""
    clinics = sorted(since)
    rows = await conn.fetch(
        "SELECT c.clinic_id, count(*) AS n FROM console_callbacks c JOIN unnest($1::text[], $2::timestamptz[])"
        " AS d(clinic_id, since) ON c.clinic_id = d.clinic_id AND c.requested_at >= d.since GROUP BY c.clinic_id",
        clinics,
        [since[c] for c in clinics],
    )
    return {r["clinic_id"]: r["n"] for r in rows}


async def activities(conn: Connection, clinic_ids: list[str] | None) -> dict[str, Activity]:
    rows = await conn.fetch(
        "SELECT clinic_id, version, last_event_at FROM console_activity"
        " WHERE $1::text[] IS NULL OR clinic_id = ANY($1)",
        clinic_ids,
    )
    return {r["clinic_id"]: Activity(r["version"], r["last_event_at"]) for r in rows}


async def activity(conn: Connection, clinic_id: str) -> Activity:
    row = await conn.fetchrow("SELECT version, last_event_at FROM console_activity WHERE clinic_id = $1", clinic_id)
    return Activity(0, None) if row is None else Activity(row["version"], row["last_event_at"])


async def versions(conn: Connection, clinic_ids: list[str] | None) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT clinic_id, version FROM console_activity WHERE $1::text[] IS NULL OR clinic_id = ANY($1)", clinic_ids
    )
    return {r["clinic_id"]: r["version"] for r in rows}


async def last_event_at(conn: Connection, clinic_ids: list[str] | None) -> datetime | None:
    at: datetime | None = await conn.fetchval(
        "SELECT max(last_event_at) FROM console_activity WHERE $1::text[] IS NULL OR clinic_id = ANY($1)", clinic_ids
    )
    return at
