"""scheduler's own tables."""

from __future__ import annotations

from typing import Any

import asyncpg

from frontdesk.common.contracts import AppointmentRequested
from frontdesk.common.db import Connection


async def request_seen(conn: Connection, request_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM booking_requests WHERE request_id = $1", request_id))


async def remember_request(conn: Connection, request_id: str, outcome: str) -> None:
    await conn.execute("INSERT INTO booking_requests (request_id, outcome) VALUES ($1, $2)", request_id, outcome)


async def try_book(conn: Connection, appointment_id: str, request: AppointmentRequested) -> tuple[str, str] | None:
    """Insert the appointment; on overlap return ("slot_taken", detail), else None.

    The exclusion constraint is the guarantee. The advisory lock only queues writers for the same
    provider, which avoids the deadlocks concurrent exclusion checks otherwise cause (see
    shared/reference/stack.md: 40P01 under contention).
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", request.provider_id)
    try:
        async with conn.transaction():  # savepoint: a conflict must not abort the handler's transaction
            await conn.execute(
                "INSERT INTO appointments (appointment_id, request_id, patient_id, clinic_id, provider_id,"
                " appointment_type, starts_at, ends_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'booked')",
                appointment_id,
                request.request_id,
                request.patient_id,
                request.clinic_id,
                request.provider_id,
                request.appointment_type,
                request.starts_at,
                request.ends_at,
            )
    except asyncpg.exceptions.ExclusionViolationError:
        clash = await conn.fetchrow(
            "SELECT starts_at, ends_at FROM appointments WHERE provider_id = $1 AND status = 'booked'"
            " AND tstzrange(starts_at, ends_at, '[)') && tstzrange($2, $3, '[)') ORDER BY starts_at LIMIT 1",
            request.provider_id,
            request.starts_at,
            request.ends_at,
        )
        window = f"{clash['starts_at'].isoformat()}/{clash['ends_at'].isoformat()}" if clash else "unknown"
        return "slot_taken", f"overlaps the booked window {window}"
    return None


async def get_appointment(conn: Connection, appointment_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM appointments WHERE appointment_id = $1", appointment_id)
    return dict(row) if row else None
