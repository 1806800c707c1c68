"""call-router's own tables (see migrations/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.contracts import CallReceived
from frontdesk.common.db import Connection

from ..domain import AgentState, CallState, VendorState

ACTIVE = ("ringing", "with_vendor")


async def lock_clinic(conn: Connection, clinic_id: str) -> None:
    """Serialize everything done for one clinic (calls, presence, timers) across replicas."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('call-router:' || $1))", clinic_id)


async def insert_call(conn: Connection, call: CallReceived) -> dict[str, Any] | None:
    """Store a new call and return its row; None if this call_id is already known (a duplicate)."""
    inserted = await conn.fetchrow(
        "INSERT INTO calls (call_id, clinic_id, received_at, intent, caller_token, language, patient_id,"
        " target_kind, target_id, reason, answer_by, attempt, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', 'received', $3, 0, 'ringing')"
        " ON CONFLICT (call_id) DO NOTHING RETURNING *",
        call.call_id,
        call.clinic_id,
        call.received_at,
        call.intent,
        call.caller_token,
        call.language,
        call.patient_id,
    )
    return dict(inserted) if inserted else None


async def get_call(conn: Connection, call_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM calls WHERE call_id = $1" + (" FOR UPDATE" if for_update else ""), call_id)
    return dict(row) if row else None


def call_state(row: dict[str, Any], *, missed: bool = False) -> CallState:
    tried = set(row["tried"]) | (set(row["offer_keys"]) if missed else set())
    return CallState(
        call_id=row["call_id"],
        clinic_id=row["clinic_id"],
        received_at=row["received_at"],
        intent=row["intent"],
        language=row["language"],
        attempt=row["attempt"],
        tried=frozenset(tried),
    )


async def agents(conn: Connection, clinic_id: str) -> dict[str, AgentState]:
    rows = await conn.fetch("SELECT * FROM agents WHERE clinic_id = $1", clinic_id)
    return {
        r["receptionist_id"]: AgentState(
            r["receptionist_id"], r["status"], r["idle_since"], r["calls_taken"], r["ringing_call_id"] is not None
        )
        for r in rows
    }


async def vendors(conn: Connection, vendor_ids: list[str]) -> dict[str, VendorState]:
    rows = await conn.fetch("SELECT * FROM vendor_health WHERE vendor_id = ANY($1::text[])", vendor_ids)
    return {r["vendor_id"]: VendorState(r["vendor_id"], r["last_heartbeat_at"], r["failed_until"]) for r in rows}


async def cursors(conn: Connection, clinic_id: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT pool_id, last_member FROM pool_cursors WHERE clinic_id = $1", clinic_id)
    return {r["pool_id"]: r["last_member"] for r in rows}


async def set_cursor(conn: Connection, clinic_id: str, pool_id: str, member: str) -> None:
    await conn.execute(
        "INSERT INTO pool_cursors VALUES ($1, $2, $3)"
        " ON CONFLICT (clinic_id, pool_id) DO UPDATE SET last_member = EXCLUDED.last_member",
        clinic_id,
        pool_id,
        member,
    )


async def record_offer(
    conn: Connection,
    call_id: str,
    *,
    target_kind: str,
    target_id: str,
    reason: str,
    answer_by: datetime,
    attempt: int,
    tried: list[str],
    offer_keys: list[str],
    ringing: list[str],
    offer_pool: str | None,
) -> None:
    await conn.execute(
        "UPDATE calls SET target_kind = $2, target_id = $3, reason = $4, answer_by = $5, attempt = $6,"
        " tried = $7, offer_keys = $8, ringing = $9, offer_pool = $10, status = 'ringing', routed_at = now()"
        " WHERE call_id = $1",
        call_id,
        target_kind,
        target_id,
        reason,
        answer_by,
        attempt,
        tried,
        offer_keys,
        ringing,
        offer_pool,
    )
    if ringing:
        await conn.execute(
            "UPDATE agents SET ringing_call_id = $2 WHERE clinic_id = (SELECT clinic_id FROM calls WHERE call_id = $2)"
            " AND receptionist_id = ANY($1::text[])",
            ringing,
            call_id,
        )


async def record_vendor(
    conn: Connection,
    call_id: str,
    *,
    vendor_id: str,
    reason: str,
    answer_by: datetime,
    attempt: int,
    tried: list[str],
    now: datetime,
    after_hours: bool,
) -> None:
    await conn.execute(
        "UPDATE calls SET target_kind = 'answering_service', target_id = $2, reason = $3, answer_by = $4,"
        " attempt = $5, tried = $6, offer_keys = '{}', ringing = '{}', offer_pool = NULL, status = 'with_vendor',"
        " vendor_id = $2, overflowed_at = COALESCE(overflowed_at, $7), after_hours = after_hours OR $8,"
        " routed_at = now() WHERE call_id = $1",
        call_id,
        vendor_id,
        reason,
        answer_by,
        attempt,
        tried,
        now,
        after_hours,
    )


async def release_ringing(conn: Connection, clinic_id: str, call_id: str) -> None:
    await conn.execute(
        "UPDATE agents SET ringing_call_id = NULL WHERE clinic_id = $1 AND ringing_call_id = $2", clinic_id, call_id
    )


async def count_missed(conn: Connection, call_id: str, missed: int) -> None:
    await conn.execute("UPDATE calls SET missed_offers = missed_offers + $2 WHERE call_id = $1", call_id, missed)


async def pause_agents(conn: Connection, clinic_id: str, receptionist_ids: list[str], at: datetime) -> None:
    await conn.execute(
        "UPDATE agents SET status = 'paused', status_at = GREATEST(status_at, $3)"
        " WHERE clinic_id = $1 AND receptionist_id = ANY($2::text[])",
        clinic_id,
        receptionist_ids,
        at,
    )


async def mark_answered(conn: Connection, call_id: str, at: datetime, kind: str, by: str) -> None:
    await conn.execute(
        "UPDATE calls SET status = 'answered', answered_at = $2, answered_by_kind = $3, answered_by_id = $4,"
        " ringing = '{}' WHERE call_id = $1",
        call_id,
        at,
        kind,
        by,
    )


async def agent_took_call(conn: Connection, clinic_id: str, receptionist_id: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO agents (clinic_id, receptionist_id, status, status_at, idle_since, calls_taken)"
        " VALUES ($1, $2, 'busy', $3, $3, 1) ON CONFLICT (clinic_id, receptionist_id) DO UPDATE SET"
        " status = 'busy', status_at = GREATEST(agents.status_at, $3), calls_taken = agents.calls_taken + 1",
        clinic_id,
        receptionist_id,
        at,
    )


async def mark_abandoned(conn: Connection, call_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE calls SET status = 'abandoned', abandoned_at = $2, ringing = '{}' WHERE call_id = $1", call_id, at
    )


async def mark_ended(conn: Connection, call_id: str, at: datetime) -> None:
    await conn.execute("UPDATE calls SET status = 'ended', ended_at = $2 WHERE call_id = $1", call_id, at)


async def agent_idle_from(conn: Connection, clinic_id: str, receptionist_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE agents SET idle_since = GREATEST(idle_since, $3) WHERE clinic_id = $1 AND receptionist_id = $2",
        clinic_id,
        receptionist_id,
        at,
    )


async def set_agent_status(conn: Connection, clinic_id: str, receptionist_id: str, status: str, at: datetime) -> bool:
    """Apply a presence change unless a later one is already recorded; False if it was stale."""
    row = await conn.fetchrow(
        "SELECT status, status_at FROM agents WHERE clinic_id = $1 AND receptionist_id = $2", clinic_id, receptionist_id
    )
    if row is None:
        await conn.execute(
            "INSERT INTO agents (clinic_id, receptionist_id, status, status_at, idle_since)"
            " VALUES ($1, $2, $3, $4, $4)",
            clinic_id,
            receptionist_id,
            status,
            at,
        )
        return True
    if row["status_at"] > at:
        return False
    became_available = status == "available" and row["status"] != "available"
    await conn.execute(
        "UPDATE agents SET status = $3, status_at = $4,"
        " idle_since = CASE WHEN $5 THEN GREATEST(idle_since, $4) ELSE idle_since END"
        " WHERE clinic_id = $1 AND receptionist_id = $2",
        clinic_id,
        receptionist_id,
        status,
        at,
        became_available,
    )
    return True


async def mark_vendor_failed(conn: Connection, vendor_id: str, until: datetime) -> None:
    await conn.execute(
        "INSERT INTO vendor_health (vendor_id, failed_until) VALUES ($1, $2)"
        " ON CONFLICT (vendor_id) DO UPDATE SET failed_until = GREATEST(vendor_health.failed_until, $2)",
        vendor_id,
        until,
    )


async def open_callback(
    conn: Connection, callback_id: str, clinic_id: str, caller_token: str, call_id: str, at: datetime
) -> bool:
    """Open a callback for this caller unless one is open already (stale ones close after a day)."""
    await conn.execute(
        "UPDATE callbacks SET closed_at = $3 WHERE clinic_id = $1 AND caller_token = $2 AND closed_at IS NULL"
        " AND requested_at < $3::timestamptz - interval '1 day'",
        clinic_id,
        caller_token,
        at,
    )
    inserted = await conn.fetchval(
        "INSERT INTO callbacks (callback_id, clinic_id, caller_token, call_id, requested_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
        callback_id,
        clinic_id,
        caller_token,
        call_id,
        at,
    )
    return inserted is not None


async def close_callbacks(conn: Connection, clinic_id: str, caller_token: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE callbacks SET closed_at = $3 WHERE clinic_id = $1 AND caller_token = $2 AND closed_at IS NULL",
        clinic_id,
        caller_token,
        at,
    )


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


async def oldest_waiting(conn: Connection, clinic_id: str) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        # literal statuses, so the partial index calls_waiting_since applies
        "SELECT min(received_at) FROM calls WHERE clinic_id = $1 AND status IN ('ringing', 'with_vendor')",
        clinic_id,
    )
    return value


async def save_early(conn: Connection, call_id: str, event_type: str, payload: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO early_outcomes (call_id, event_type, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        call_id,
        event_type,
        payload,
    )


async def take_early(conn: Connection, call_id: str, event_types: list[str]) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(
        "DELETE FROM early_outcomes WHERE call_id = $1 AND event_type = ANY($2::text[]) RETURNING event_type, payload",
        call_id,
        event_types,
    )
    return {r["event_type"]: r["payload"] for r in rows}


async def want_vendor_topics(conn: Connection, vendor_ids: list[str]) -> bool:
    """Note vendors whose topic must exist; True if any is not ready yet."""
    await conn.execute(
        "INSERT INTO vendor_topics (vendor_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", vendor_ids
    )
    missing = await conn.fetchval(
        "SELECT count(*) FROM vendor_topics WHERE vendor_id = ANY($1::text[]) AND NOT ready", vendor_ids
    )
    return bool(missing)


async def vendors_without_topic(conn: Connection) -> list[str]:
    return [r["vendor_id"] for r in await conn.fetch("SELECT vendor_id FROM vendor_topics WHERE NOT ready")]


async def vendor_topics_ready(conn: Connection, vendor_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE vendor_topics SET ready = true, ready_at = now() WHERE vendor_id = ANY($1::text[])", vendor_ids
    )


async def vendor_topic_ready(conn: Connection, vendor_id: str) -> bool:
    return bool(await conn.fetchval("SELECT ready FROM vendor_topics WHERE vendor_id = $1", vendor_id))
