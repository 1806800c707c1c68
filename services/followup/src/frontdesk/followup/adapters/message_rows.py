"""The rows sending decides on: a message of the send outbox (`messages`, locked while it is decided)
and the plan it belongs to (`followups`), each with the events it announces; and the plans still
open that a later event withdraws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.contracts import FollowupCancelled, FollowupFailed, FollowupSent, MessageSent, MessageSkipped
from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.consent import Purpose


@dataclass(frozen=True)
class Message:
    message_request_id: str
    requested_by: str
    patient_id: str
    clinic_id: str
    purpose: Purpose
    template: str
    variables: dict[str, str]
    not_before: datetime | None
    expires_at: datetime | None
    followup_id: str | None  # a plan of followup's own; None for another service's message
    status: str  # pending, sent, skipped, failed, cancelled
    idempotency_key: str  # what the provider sees: the same for every attempt
    timer_key: str | None
    timer_seq: int

    def sent(self, channel: str, at: datetime) -> MessageSent:
        return MessageSent(
            message_request_id=self.message_request_id,
            requested_by=self.requested_by,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            channel=channel,
            sent_at=at,
        )

    def skipped(self, reason: str, detail: str) -> MessageSkipped:
        return MessageSkipped(
            message_request_id=self.message_request_id,
            requested_by=self.requested_by,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            reason=reason,
            detail=detail[:300],
        )


@dataclass(frozen=True)
class Plan:
    followup_id: str
    kind: str
    patient_id: str
    clinic_id: str
    appointment_id: str | None
    due_at: datetime
    status: str  # scheduled, sent, failed, cancelled

    def sent(self, message_request_id: str, channel: str, at: datetime) -> FollowupSent:
        return FollowupSent(
            followup_id=self.followup_id,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            kind=self.kind,
            message_request_id=message_request_id,
            channel=channel,
            sent_at=at,
        )

    def failed(self, message_request_id: str, reason: str, at: datetime) -> FollowupFailed:
        return FollowupFailed(
            followup_id=self.followup_id,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            kind=self.kind,
            message_request_id=message_request_id,
            reason=reason,
            failed_at=at,
        )

    def cancelled(self, reason: str, at: datetime) -> FollowupCancelled:
        return FollowupCancelled(
            followup_id=self.followup_id,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            kind=self.kind,
            reason=reason,
            cancelled_at=at,
        )


_PLAN = "followup_id, kind, patient_id, clinic_id, appointment_id, due_at, status"


async def lock_message(conn: Connection, message_request_id: str) -> Message | None:
    row = await conn.fetchrow(
        "SELECT message_request_id, requested_by, patient_id, clinic_id, purpose, template, variables, not_before,"
        " expires_at, followup_id, status, idempotency_key, timer_key, timer_seq"
        " FROM messages WHERE message_request_id = $1 FOR UPDATE",
        message_request_id,
    )
    return from_row(Message, row) if row else None


async def get_plan(conn: Connection, followup_id: str) -> Plan | None:
    row = await conn.fetchrow(
        f"SELECT {_PLAN} FROM followups WHERE followup_id = $1",
        followup_id,
    )
    return from_row(Plan, row) if row else None


async def open_plans(
    conn: Connection, *, appointment_id: str | None = None, patient_id: str | None = None, kind: str | None = None
) -> list[Plan]:
    """The plans still scheduled (of an appointment, or a patient's of one kind), locked, soonest first."""
    rows = await conn.fetch(
        f"SELECT {_PLAN} FROM followups WHERE status = 'scheduled'"
        " AND ($1::text IS NULL OR appointment_id = $1) AND ($2::text IS NULL OR patient_id = $2)"
        " AND ($3::text IS NULL OR kind = $3) ORDER BY due_at FOR UPDATE",
        appointment_id,
        patient_id,
        kind,
    )
    return [from_row(Plan, r) for r in rows]
