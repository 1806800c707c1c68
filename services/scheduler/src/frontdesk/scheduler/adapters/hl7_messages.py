"""HL7 v2 messages received: their answers (a repeat gets the same answer) and the quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from .hl7_ack import Answer
from .hl7v2 import ErrorCode, Hl7Message


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A quarantined message as staff review it (the raw message stays in the database)."""

    clinic_id: str
    sending_facility: str
    control_id: str
    message_type: str
    reason: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Answered:
    """The answer a control id already got, and what its message said (None: recorded before digests)."""

    ack_code: str
    reason: str | None
    digest: str | None
    received_at: datetime
    error_code: int | None
    error_location: str | None

    @property
    def answer(self) -> Answer:
        error = None if self.error_code is None else ErrorCode(self.error_code)
        return Answer(self.ack_code, self.reason or "", error, self.error_location)


async def answer_of(conn: Connection, clinic_id: str, message: Hl7Message) -> Answered | None:
    """What this control id already got, if it came before. Waits for a copy of the message still being
    applied (a resend racing the first): it then reads that copy's answer instead of colliding with it."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('hl7:' || $1 || ':' || $2 || ':' || $3))",
        clinic_id,
        message.sending_facility,
        message.control_id,
    )
    seen = await conn.fetchrow(
        "SELECT ack_code, reason, digest, received_at, error_code, error_location FROM hl7_messages"
        " WHERE clinic_id = $1 AND sending_facility = $2 AND control_id = $3",
        clinic_id,
        message.sending_facility,
        message.control_id,
    )
    return None if seen is None else from_row(Answered, seen)


async def record(
    conn: Connection, clinic_id: str, message: Hl7Message, outcome: str, answer: Answer, text: str
) -> datetime:
    """Record the message and its answer; return when it was received."""
    received_at: datetime = await conn.fetchval(
        "INSERT INTO hl7_messages (clinic_id, sending_facility, control_id, message_type, outcome, reason, ack_code,"
        " raw, digest, error_code, error_location) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " RETURNING received_at",
        clinic_id,
        message.sending_facility,
        message.control_id,
        message.message_type,
        outcome,
        answer.reason or None,
        answer.code,
        text if outcome == "quarantined" else None,  # kept for staff review, in this database only
        message.digest,
        None if answer.error is None else int(answer.error),
        answer.location,
    )
    return received_at


async def quarantined(
    conn: Connection, clinics: list[str] | None, after: tuple[Any, ...], limit: int | None
) -> list[Quarantined]:
    """Quarantined messages of `clinics` (None: all), newest first; `after` is the page's cursor."""
    rows = await conn.fetch(
        "SELECT clinic_id, sending_facility, control_id, message_type, reason, received_at FROM hl7_messages"
        " WHERE outcome = 'quarantined' AND ($1::text[] IS NULL OR clinic_id = ANY($1)) AND ($2::timestamptz IS NULL"
        " OR (received_at, clinic_id, sending_facility, control_id) < ($2, $3, $4, $5))"
        " ORDER BY received_at DESC, clinic_id DESC, sending_facility DESC, control_id DESC LIMIT $6",
        clinics,
        *after,
        limit,
    )
    return [from_row(Quarantined, r) for r in rows]
