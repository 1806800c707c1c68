"""call-router's own tables (see migrations/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.common import inbox
from frontdesk.common.contracts import CallReceived
from frontdesk.common.db import Connection

from ..domain import AgentState, CallState, VendorState
from ..domain.lifecycle import StoredCall
from ..domain.vendor_isolation import KeptOutcome
from . import early_outcomes


async def lock_clinic(conn: Connection, clinic_id: str) -> None:
    """Serialize everything done for one clinic (calls, presence, timers) across replicas."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('call-router:' || $1))", clinic_id)


@dataclass
class Received:
    """What call_router_receive returns (functions.sql): one round trip for the call.received path."""

    version: str | None  # the clinic's configuration event id; None = unknown clinic
    row: StoredCall | None  # the new call; None = unknown clinic or a duplicate call_id
    early: dict[str, dict[str, Any]]  # outcomes that overtook the call, by event type
    refused: list[KeptOutcome]  # kept outcomes of its call_id that named another clinic (taken too)
    agents: dict[str, AgentState]
    vendors: dict[str, VendorState]
    cursors: dict[str, str]


async def receive_call(conn: Connection, call: CallReceived, arrived: datetime, vendor_ids: list[str]) -> Received:
    """Lock the clinic, store the call (as arrived at `arrived`) and load the routing state (the
    statements of lock_clinic, insert_call, early_outcomes.take, agents, vendors and cursors, in one
    PL/pgSQL call)."""
    r = await conn.fetchrow(
        "SELECT * FROM call_router_receive($1, $2, $3, $4, $5, $6, $7, $8::text[])",
        call.call_id,
        call.clinic_id,
        arrived,
        call.intent,
        call.caller_token,
        call.language,
        call.patient_id,
        vendor_ids,
    )
    assert r is not None
    return Received(
        version=r["o_version"],
        row=_row(r["o_call"]),
        early=r["o_early"] or {},
        refused=early_outcomes.kept(r["o_refused"]),
        agents=_agents(r["o_agents"]),
        vendors=_vendors(r["o_vendors"]),
        cursors={k["pool_id"]: k["last_member"] for k in r["o_cursors"] or ()},
    )


async def insert_call(conn: Connection, call: CallReceived, arrived: datetime) -> StoredCall | None:
    """Store a call as call_router_receive does, for a clinic it does not know (the clinic is already
    locked); None for a call_id already stored."""
    row = await conn.fetchrow(
        "INSERT INTO calls (call_id, clinic_id, received_at, intent, caller_token, language, patient_id,"
        " target_kind, target_id, reason, answer_by, attempt, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', 'received', $3, 0, 'ringing')"
        " ON CONFLICT (call_id) DO NOTHING RETURNING *",
        call.call_id,
        call.clinic_id,
        arrived,
        call.intent,
        call.caller_token,
        call.language,
        call.patient_id,
    )
    return StoredCall.of(row) if row else None


async def mark_unrouted(conn: Connection, call_id: str) -> None:
    await conn.execute(
        "UPDATE calls SET status = 'unrouted', reason = 'unknown_clinic', routed_at = now() WHERE call_id = $1", call_id
    )


async def held_calls(conn: Connection, clinic_id: str, since: datetime) -> list[StoredCall]:
    """The clinic's unrouted calls received since `since`, oldest first (under the clinic's lock)."""
    rows = await conn.fetch(
        "SELECT * FROM calls WHERE clinic_id = $1 AND status = 'unrouted' AND received_at >= $2"
        " ORDER BY received_at FOR UPDATE",
        clinic_id,
        since,
    )
    return [StoredCall.of(r) for r in rows]


async def record_offer(
    conn: Connection,
    call_id: str,
    clinic_id: str,
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
    cursor: tuple[str, str] | None,
) -> datetime | None:
    """Record an offer: the call row, who rings, the pool's cursor; returns the oldest waiting call
    (call_router_offer in functions.sql: one round trip)."""
    oldest: datetime | None = await conn.fetchval(
        "SELECT call_router_offer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        call_id,
        clinic_id,
        target_kind,
        target_id,
        reason,
        answer_by,
        attempt,
        tried,
        offer_keys,
        ringing,
        offer_pool,
        cursor[0] if cursor else None,
        cursor[1] if cursor else None,
    )
    return oldest


@dataclass
class RingTimedOut:
    """What call_router_ring_timeout returns (functions.sql)."""

    stale: bool  # the cached configuration version is not the current one: nothing was written
    row: StoredCall | None  # the call as it was before this timeout; None = nothing to do
    paused: list[str]
    agents: dict[str, AgentState]
    vendors: dict[str, VendorState]
    cursors: dict[str, str]


def _agents(records: Any) -> dict[str, AgentState]:
    return {
        a["receptionist_id"]: AgentState(
            a["receptionist_id"], a["status"], a["idle_since"], a["calls_taken"], a["ringing_call_id"] is not None
        )
        for a in records or ()
    }


def _vendors(records: Any) -> dict[str, VendorState]:
    return {
        v["vendor_id"]: VendorState(v["vendor_id"], v["last_heartbeat_at"], v["failed_until"]) for v in records or ()
    }


def _row(record: Any) -> StoredCall | None:
    # a NULL row variable may come back as a row of NULLs
    return StoredCall.of(record) if record is not None and record["call_id"] is not None else None


async def ring_timed_out(
    conn: Connection,
    call_id: str,
    clinic_id: str,
    attempt: int,
    version: str,
    no_autopause: list[str],
    now: datetime,
    vendor_ids: list[str],
) -> RingTimedOut:
    """Lock, check the call still rings this attempt, release who rang, count the miss, auto-pause,
    and load the routing state: one round trip."""
    r = await conn.fetchrow(
        "SELECT * FROM call_router_ring_timeout($1, $2, $3, $4, $5::text[], $6, $7::text[])",
        call_id,
        clinic_id,
        attempt,
        version,
        no_autopause,
        now,
        vendor_ids,
    )
    assert r is not None
    return RingTimedOut(
        stale=bool(r["o_stale"]),
        row=_row(r["o_call"]),
        paused=list(r["o_paused"] or ()),
        agents=_agents(r["o_agents"]),
        vendors=_vendors(r["o_vendors"]),
        cursors={k["pool_id"]: k["last_member"] for k in r["o_cursors"] or ()},
    )


@dataclass
class VendorMissed:
    """What call_router_vendor_deadline returns (functions.sql)."""

    stale: bool  # the cached configuration version is not the current one: nothing was written
    row: StoredCall | None  # the call, still with that vendor; None = nothing to do
    vendors: dict[str, VendorState]  # after marking the vendor failed


async def vendor_missed_deadline(
    conn: Connection,
    call_id: str,
    clinic_id: str,
    vendor_id: str,
    version: str | None,  # None: the clinic is not configured (its call went to the network fallback)
    failed_until: datetime,
    vendor_ids: list[str],
) -> VendorMissed:
    """Lock, check the call is still with `vendor_id`, mark that vendor failed until `failed_until`
    and load the vendors' health: one round trip."""
    r = await conn.fetchrow(
        "SELECT * FROM call_router_vendor_deadline($1, $2, $3, $4, $5, $6::text[])",
        call_id,
        clinic_id,
        vendor_id,
        version,
        failed_until,
        vendor_ids,
    )
    assert r is not None
    return VendorMissed(stale=bool(r["o_stale"]), row=_row(r["o_call"]), vendors=_vendors(r["o_vendors"]))


@dataclass
class Answered:
    """What call_router_answer returns (functions.sql)."""

    row: StoredCall | None  # the call as it was before; the answer was recorded if it was ACTIVE
    version: str | None  # the clinic's configuration event id
    oldest_waiting: datetime | None  # the clinic's oldest call still waiting, after this one
    ended: dict[str, Any] | None  # a call.ended that overtook this answer, taken from early_outcomes
    refused: list[KeptOutcome]  # kept call.ended of its call_id that named another clinic (taken too)
    answered_at: datetime | None  # the answer as recorded (None: not recorded)


async def answer_call(
    conn: Connection, call_id: str, clinic_id: str, at: datetime, kind: str, by: str, claim: inbox.Claim | None
) -> Answered:
    """Lock the clinic; if the call still waits, record the answer, cancel its ring or vendor timer,
    release who rang, mark a receptionist busy, close the caller's callbacks, take an early
    call.ended, and read the oldest waiting call: the statements of the answer path in one round trip,
    which also claims the event in the inbox (`claim`, if given). (Timers set earlier in the same unit
    of work are not seen; none is, on this path.)"""
    answer = "SELECT * FROM call_router_answer($1, $2, $3, $4, $5)"
    if claim is None:
        r = await conn.fetchrow(answer, call_id, clinic_id, at, kind, by)
    else:
        r = await conn.fetchrow(inbox.claiming(answer, 6), call_id, clinic_id, at, kind, by, *claim.args())
        if r is not None and not r["claimed"]:
            raise inbox.AlreadyProcessed(claim.event_id)
    assert r is not None
    return Answered(
        _row(r["o_call"]),
        r["o_version"],
        r["o_oldest"],
        r["o_ended"],
        early_outcomes.kept(r["o_refused"]),
        r["o_answered_at"],
    )


async def get_call(conn: Connection, call_id: str, *, for_update: bool = False) -> StoredCall | None:
    row = await conn.fetchrow("SELECT * FROM calls WHERE call_id = $1" + (" FOR UPDATE" if for_update else ""), call_id)
    return StoredCall.of(row) if row else None


def call_state(row: StoredCall, *, missed: bool = False) -> CallState:
    tried = set(row.tried) | (set(row.offer_keys) if missed else set())
    return CallState(
        call_id=row.call_id,
        clinic_id=row.clinic_id,
        received_at=row.received_at,
        intent=row.intent,
        language=row.language,
        attempt=row.attempt,
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


async def sister_desks(conn: Connection, clinic_ids: list[str]) -> list[tuple[str, str, dict[str, AgentState]]]:
    """(clinic_id, configuration version, presence) of each of these clinics that this router knows."""
    rows = await conn.fetch(
        "SELECT c.clinic_id, c.event_id, (SELECT array_agg(a) FROM agents a WHERE a.clinic_id = c.clinic_id) AS agents"
        " FROM clinics c WHERE c.clinic_id = ANY($1::text[])",
        clinic_ids,
    )
    return [(r["clinic_id"], r["event_id"], _agents(r["agents"])) for r in rows]


async def vendors(conn: Connection, vendor_ids: list[str]) -> dict[str, VendorState]:
    rows = await conn.fetch("SELECT * FROM vendor_health WHERE vendor_id = ANY($1::text[])", vendor_ids)
    return {r["vendor_id"]: VendorState(r["vendor_id"], r["last_heartbeat_at"], r["failed_until"]) for r in rows}


async def cursors(conn: Connection, clinic_id: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT pool_id, last_member FROM pool_cursors WHERE clinic_id = $1", clinic_id)
    return {r["pool_id"]: r["last_member"] for r in rows}


@dataclass(frozen=True)
class HandedOver:
    topic_ready: bool  # the vendor's own topic exists (its copy of the call can be sent)
    caller_number: dict[str, Any] | None  # sealed under the router's own key (callers.py), if on file
    oldest_waiting: datetime | None


async def record_vendor(
    conn: Connection,
    call_id: str,
    clinic_id: str,
    *,
    vendor_id: str,
    reason: str,
    answer_by: datetime,
    attempt: int,
    tried: list[str],
    now: datetime,
    after_hours: bool,
    caller_token: str | None,
) -> HandedOver:
    """Record a hand-over to a vendor. In the same round trip: whether the vendor's own topic is ready,
    the caller's sealed number on file (for the vendor's own copy), and the clinic's oldest waiting
    call (the same either side of this update: the call waited before it and waits after it, so the
    statement's snapshot, which does not see its own update, will do)."""
    r = await conn.fetchrow(
        "WITH handed AS (UPDATE calls SET target_kind = 'answering_service', target_id = $2, reason = $3,"
        " answer_by = $4, attempt = $5, tried = $6, offer_keys = '{}', ringing = '{}', offer_pool = NULL,"
        " status = 'with_vendor', vendor_id = $2, overflowed_at = COALESCE(overflowed_at, $7),"
        " after_hours = after_hours OR $8, routed_at = now() WHERE call_id = $1)"
        " SELECT COALESCE((SELECT ready FROM vendor_topics WHERE vendor_id = $2), false) AS topic_ready,"
        " (SELECT sealed FROM callers WHERE clinic_id = $9 AND caller_token = $10 AND expires_at > $7)"
        " AS caller_number,"
        # literal statuses, so the partial index calls_waiting_since applies
        " (SELECT min(received_at) FROM calls WHERE clinic_id = $9 AND status IN ('ringing', 'with_vendor'))"
        " AS oldest",
        call_id,
        vendor_id,
        reason,
        answer_by,
        attempt,
        tried,
        now,
        after_hours,
        clinic_id,
        caller_token,
    )
    assert r is not None
    return HandedOver(bool(r["topic_ready"]), r["caller_number"], r["oldest"])


async def record_withdrawals(
    conn: Connection, call_id: str, vendor_ids: list[str], reason: str, at: datetime
) -> set[str]:
    """Record that the call was withdrawn from these vendors; return those whose own topic is ready
    (one round trip)."""
    rows = await conn.fetch(
        "WITH w AS (INSERT INTO call_withdrawals (call_id, vendor_id, reason, withdrawn_at)"
        " SELECT $1, unnest($2::text[]), $3, $4 ON CONFLICT DO NOTHING)"
        " SELECT vendor_id FROM vendor_topics WHERE vendor_id = ANY($2::text[]) AND ready",
        call_id,
        vendor_ids,
        reason,
        at,
    )
    return {r["vendor_id"] for r in rows}


async def record_late_answer(conn: Connection, call_id: str, vendor_id: str, at: datetime) -> bool:
    """Note a vendor's answer of a call withdrawn from it; True the first time only."""
    done = await conn.fetchval(
        "UPDATE call_withdrawals SET late_answer_at = $3"
        " WHERE call_id = $1 AND vendor_id = $2 AND late_answer_at IS NULL RETURNING 1",
        call_id,
        vendor_id,
        at,
    )
    return done is not None


async def release_ringing(conn: Connection, clinic_id: str, call_id: str) -> None:
    await conn.execute(
        "UPDATE agents SET ringing_call_id = NULL WHERE clinic_id = $1 AND ringing_call_id = $2", clinic_id, call_id
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


async def oldest_waiting(conn: Connection, clinic_id: str) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        # literal statuses, so the partial index calls_waiting_since applies
        "SELECT min(received_at) FROM calls WHERE clinic_id = $1 AND status IN ('ringing', 'with_vendor')",
        clinic_id,
    )
    return value
