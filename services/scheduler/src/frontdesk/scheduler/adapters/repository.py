"""scheduler's own tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row
from frontdesk.common.uow import Writes

from ..domain.appointments import Appointment
from ..domain.slots import Interval
from .clinics import ClinicVersion

ACTIVE_SQL = "('pending', 'booked', 'arrived', 'checked-in', 'fulfilled')"


@dataclass(frozen=True)
class Conflict:
    """What a command ran into: the busy window that overlaps it (an appointment or a block)."""

    starts_at: datetime
    ends_at: datetime
    kind: str  # "appointment" or "block"

    def detail(self) -> str:
        return f"overlaps the booked window {self.starts_at.isoformat()}/{self.ends_at.isoformat()}"

    def as_json(self) -> dict[str, str]:
        return {"starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(), "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Block:
    """Blocked time of a provider (a `provider_blocks` row, without when it was written)."""

    block_id: str
    clinic_id: str
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    kind: str  # vacation, blocked, other


# --- the calendar --------------------------------------------------------------------------------


async def lock_provider(conn: Connection, provider_id: str) -> None:
    """Queue the writers of one provider (transaction-scoped). The exclusion constraint is the
    guarantee; this lock only orders writers, which avoids the deadlocks concurrent exclusion checks
    otherwise cause (shared/reference/stack.md: 40P01 under contention)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", provider_id)


async def first_conflict(
    conn: Connection, provider_id: str, blocked: Interval, exclude_appointment: str | None = None
) -> Conflict | None:
    """The first active appointment or block that overlaps `blocked` (a plain read, no lock)."""
    row = await conn.fetchrow(
        "SELECT starts_at, ends_at, kind FROM scheduler_first_conflict($1, $2, $3, $4)",
        provider_id,
        blocked.start,
        blocked.end,
        exclude_appointment,
    )
    return from_row(Conflict, row) if row else None


async def busy(conn: Connection, provider_id: str, window: Interval) -> list[Interval]:
    """Everything that occupies the provider in `window`: active bookings' buffered ranges and blocks."""
    rows = await conn.fetch(
        "SELECT blocked_from AS s, blocked_until AS e FROM appointments"
        f" WHERE provider_id = $1 AND status IN {ACTIVE_SQL}"
        " AND tstzrange(blocked_from, blocked_until, '[)') && tstzrange($2, $3, '[)')"
        " UNION ALL SELECT starts_at, ends_at FROM provider_blocks"
        " WHERE provider_id = $1 AND tstzrange(starts_at, ends_at, '[)') && tstzrange($2, $3, '[)')",
        provider_id,
        window.start,
        window.end,
    )
    return [Interval(r["s"], r["e"]) for r in rows]


# What the booking statement came to, when it is not a conflict: booked; the same request booked
# before; or the clinic's configuration changed since the command was planned with it.
Outcome = Literal["inserted", "duplicate", "stale"]


async def book(conn: Connection, new: Appointment, version: ClinicVersion, writes: Writes) -> Outcome | Conflict:
    """Insert the appointment and write `writes` (its events and timers) unless its buffered range
    overlaps anything; the conflict if it does.

    One round trip (scheduler_book in functions.sql): the configuration version is checked, a plain
    read keeps clear losers out of the lock queue; under the provider lock, blocks and appointments
    are checked again and the insert runs with ON CONFLICT DO NOTHING, so that the exclusion
    constraint has the last word."""
    row = await conn.fetchrow(
        "SELECT outcome, c_starts, c_ends, c_kind FROM scheduler_book("
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
        version.updated_at,
        version.templates,
        version.templates_latest,
        new.appointment_id,
        new.request_id,
        new.patient_id,
        new.clinic_id,
        new.provider_id,
        new.appointment_type,
        new.starts_at,
        new.ends_at,
        new.blocked_from,
        new.blocked_until,
        new.status,
        new.source,
        new.hold_expires_at,
        new.external_id,
        *writes.outbox_args(),
        *writes.timer_args(),
        writes.notify(),
    )
    assert row is not None
    if row["outcome"] == "conflict":
        return Conflict(row["c_starts"], row["c_ends"], row["c_kind"])
    outcome: Outcome = row["outcome"]
    return outcome


async def move_appointment(
    conn: Connection, appointment_id: str, provider_id: str, window: Interval, blocked: Interval, status: str
) -> Conflict | None:
    """Move an appointment to a new window (reschedule), under the same guarantee as an insert."""
    clash = await first_conflict(conn, provider_id, blocked, exclude_appointment=appointment_id)
    if clash is not None:
        return clash
    await lock_provider(conn, provider_id)
    try:
        async with conn.transaction():
            clash = await first_conflict(conn, provider_id, blocked, exclude_appointment=appointment_id)
            if clash is not None:
                return clash
            await conn.execute(
                "UPDATE appointments SET starts_at = $2, ends_at = $3, blocked_from = $4, blocked_until = $5,"
                " status = $6, hold_expires_at = NULL, updated_at = now() WHERE appointment_id = $1",
                appointment_id,
                window.start,
                window.end,
                blocked.start,
                blocked.end,
                status,
            )
    except asyncpg.exceptions.ExclusionViolationError:
        clash = await first_conflict(conn, provider_id, blocked, exclude_appointment=appointment_id)
        return clash or Conflict(window.start, window.end, "appointment")
    return None


async def get_appointment(conn: Connection, appointment_id: str, *, for_update: bool = False) -> Appointment | None:
    sql = "SELECT * FROM appointments WHERE appointment_id = $1" + (" FOR UPDATE" if for_update else "")
    row = await conn.fetchrow(sql, appointment_id)
    return from_row(Appointment, row) if row else None


async def by_request(conn: Connection, request_id: str) -> Appointment | None:
    """The appointment a request booked (its idempotency key), if any."""
    row = await conn.fetchrow("SELECT * FROM appointments WHERE request_id = $1", request_id)
    return from_row(Appointment, row) if row else None


async def get_by_external_id(conn: Connection, clinic_id: str, external_id: str) -> Appointment | None:
    row = await conn.fetchrow(
        "SELECT * FROM appointments WHERE clinic_id = $1 AND external_id = $2 FOR UPDATE", clinic_id, external_id
    )
    return from_row(Appointment, row) if row else None


async def set_status(conn: Connection, appointment_id: str, status: str, **facts: Any) -> None:
    """Change the status and record the facts that come with it (columns named in `facts`)."""
    allowed = {"status_reason", "confirmed_at", "checked_in_at", "completed_at", "cancelled_at", "visit_id"}
    assert set(facts) <= allowed, set(facts) - allowed
    sets = ["status = $2", "updated_at = now()", "hold_expires_at = NULL"]
    args: list[Any] = [appointment_id, status]
    for column, value in facts.items():
        args.append(value)
        sets.append(f"{column} = ${len(args)}")
    await conn.execute(f"UPDATE appointments SET {', '.join(sets)} WHERE appointment_id = $1", *args)


async def mark_confirmed(conn: Connection, appointment_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE appointments SET confirmed_at = coalesce(confirmed_at, $2), updated_at = now()"
        " WHERE appointment_id = $1",
        appointment_id,
        at,
    )


async def keep_hold(conn: Connection, appointment_id: str, hold_expires_at: datetime | None) -> None:
    """A held slot moves with its hold (a move clears hold_expires_at): put the hold's expiry back."""
    await conn.execute(
        "UPDATE appointments SET hold_expires_at = $2 WHERE appointment_id = $1", appointment_id, hold_expires_at
    )


async def visit_recorded(conn: Connection, clinic_id: str, visit_id: str) -> bool:
    """An appointment of the clinic was already completed as this visit."""
    found = await conn.fetchval(
        "SELECT appointment_id FROM appointments WHERE clinic_id = $1 AND visit_id = $2", clinic_id, visit_id
    )
    return found is not None


async def open_appointment_near(
    conn: Connection, clinic_id: str, patient_id: str, at: datetime, before: timedelta, after: timedelta
) -> str | None:
    """The patient's open appointment that starts closest to `at`, within [at - before, at + after]."""
    appointment_id: str | None = await conn.fetchval(
        "SELECT appointment_id FROM appointments WHERE clinic_id = $1 AND patient_id = $2"
        " AND status IN ('booked', 'arrived', 'checked-in') AND starts_at BETWEEN $3 AND $4"
        " ORDER BY abs(extract(epoch FROM starts_at - $5)) LIMIT 1",
        clinic_id,
        patient_id,
        at - before,
        at + after,
        at,
    )
    return appointment_id


async def search_appointments(
    conn: Connection,
    patient_id: str | None,
    provider_id: str | None,
    window: Interval,
    clinics: list[str] | None,
    after: tuple[Any, ...],
    limit: int | None,
) -> list[Appointment]:
    """Appointments of a patient and/or a provider that overlap `window`, at `clinics` (None: all), by
    start; `after` (starts_at, appointment_id) and `limit` page them."""
    rows = await conn.fetch(
        "SELECT * FROM appointments WHERE ($1::text IS NULL OR patient_id = $1)"
        " AND ($2::text IS NULL OR provider_id = $2) AND starts_at < $4 AND ends_at > $3"
        " AND ($6::text[] IS NULL OR clinic_id = ANY($6))"
        " AND ($7::timestamptz IS NULL OR (starts_at, appointment_id) > ($7, $8))"
        " ORDER BY starts_at, appointment_id LIMIT $5",
        patient_id,
        provider_id,
        window.start,
        window.end,
        limit,
        clinics,
        *after,
    )
    return [from_row(Appointment, r) for r in rows]


async def occupied(conn: Connection, provider_id: str, window: Interval) -> list[tuple[Interval, str]]:
    """The provider's active appointments that overlap `window` (their windows and statuses), by start."""
    rows = await conn.fetch(
        "SELECT starts_at, ends_at, status FROM appointments WHERE provider_id = $1"
        f" AND status IN {ACTIVE_SQL} AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at",
        provider_id,
        window.start,
        window.end,
    )
    return [(Interval(r["starts_at"], r["ends_at"]), r["status"]) for r in rows]


async def patient_is_new(conn: Connection, clinic_id: str, patient_id: str) -> bool:
    """New to the clinic: no visit of theirs there has been completed."""
    seen = await conn.fetchval(
        "SELECT 1 FROM appointments WHERE clinic_id = $1 AND patient_id = $2 AND status = 'fulfilled' LIMIT 1",
        clinic_id,
        patient_id,
    )
    return not seen


# --- blocked time --------------------------------------------------------------------------------


async def add_block(
    conn: Connection, block_id: str, clinic_id: str, provider_id: str, window: Interval, kind: str
) -> Conflict | None:
    """Block time, unless an active appointment is already there (cancel or move it first)."""
    await lock_provider(conn, provider_id)
    row = await conn.fetchrow(
        f"SELECT starts_at, ends_at FROM appointments WHERE provider_id = $1 AND status IN {ACTIVE_SQL}"
        " AND tstzrange(starts_at, ends_at, '[)') && tstzrange($2, $3, '[)') ORDER BY starts_at LIMIT 1",
        provider_id,
        window.start,
        window.end,
    )
    if row is not None:
        return Conflict(row["starts_at"], row["ends_at"], "appointment")
    await conn.execute(
        "INSERT INTO provider_blocks (block_id, clinic_id, provider_id, starts_at, ends_at, kind)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (block_id) DO NOTHING",
        block_id,
        clinic_id,
        provider_id,
        window.start,
        window.end,
        kind,
    )
    return None


async def blocks_of(
    conn: Connection,
    provider_id: str,
    clinics: list[str] | None = None,
    after: tuple[Any, ...] = (None, None),
    limit: int | None = None,
) -> list[Block]:
    """The provider's blocks by start; `clinics` (None: all) limits them to those clinics' blocks;
    `after` (starts_at, block_id) and `limit` page them (None: all)."""
    rows = await conn.fetch(
        "SELECT block_id, clinic_id, provider_id, starts_at, ends_at, kind FROM provider_blocks"
        " WHERE provider_id = $1 AND ($2::text[] IS NULL OR clinic_id = ANY($2))"
        " AND ($3::timestamptz IS NULL OR (starts_at, block_id) > ($3, $4)) ORDER BY starts_at, block_id LIMIT $5",
        provider_id,
        clinics,
        *after,
        limit,
    )
    return [from_row(Block, r) for r in rows]


async def remove_block(conn: Connection, provider_id: str, block_id: str) -> bool:
    deleted = await conn.execute(
        "DELETE FROM provider_blocks WHERE block_id = $1 AND provider_id = $2", block_id, provider_id
    )
    return deleted != "DELETE 0"


async def save_template(conn: Connection, clinic_id: str, provider_id: str, availability: dict[str, list[str]]) -> None:
    """A provider's weekly template set over HTTP (it replaces the configured one until deleted)."""
    await conn.execute(
        "INSERT INTO provider_templates (clinic_id, provider_id, availability) VALUES ($1, $2, $3)"
        " ON CONFLICT (clinic_id, provider_id) DO UPDATE SET availability = EXCLUDED.availability,"
        " updated_at = clock_timestamp()",
        clinic_id,
        provider_id,
        availability,
    )


async def delete_template(conn: Connection, clinic_id: str, provider_id: str) -> None:
    await conn.execute(
        "DELETE FROM provider_templates WHERE clinic_id = $1 AND provider_id = $2", clinic_id, provider_id
    )


# --- whose is it (object-level authorization) ------------------------------------------------------


async def clinic_of_appointment(conn: Connection, appointment_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval(
        "SELECT clinic_id FROM appointments WHERE appointment_id = $1", appointment_id
    )
    return clinic_id


async def clinic_of_block(conn: Connection, provider_id: str, block_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval(
        "SELECT clinic_id FROM provider_blocks WHERE block_id = $1 AND provider_id = $2", block_id, provider_id
    )
    return clinic_id


async def clinic_of_offer(conn: Connection, offer_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval("SELECT clinic_id FROM waitlist_offers WHERE offer_id = $1", offer_id)
    return clinic_id


async def clinics_of_provider(conn: Connection, provider_id: str) -> list[str]:
    """The clinics whose configuration lists the provider (a provider may work at several)."""
    rows = await conn.fetch(
        "SELECT clinic_id FROM clinics WHERE config->'providers'"
        " @> jsonb_build_array(jsonb_build_object('provider_id', $1::text)) ORDER BY clinic_id",
        provider_id,
    )
    return [r["clinic_id"] for r in rows]
