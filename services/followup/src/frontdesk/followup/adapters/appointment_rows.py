"""followup's own view of appointments (`appointments`), from the scheduler's events: it suppresses
recalls, drops stale reminders and tells which appointment a patient's reply answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentReplyReceived,
    AppointmentRescheduled,
)
from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

# The events that say where an appointment stands.
AppointmentEvent = (
    AppointmentBooked | AppointmentCancelled | AppointmentRescheduled | AppointmentNoShow | AppointmentReminderDue
)


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    patient_id: str
    clinic_id: str
    provider_id: str
    starts_at: datetime
    status: str  # booked, cancelled (final), no_show

    def reply_received(self, reply: str, at: datetime) -> AppointmentReplyReceived:
        return AppointmentReplyReceived(
            appointment_id=self.appointment_id,
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            provider_id=self.provider_id,
            reply=reply,
            received_at=at,
        )


_COLUMNS = "appointment_id, patient_id, clinic_id, provider_id, starts_at, status"
_COLUMNS_OF_A = ", ".join("a." + column for column in _COLUMNS.split(", "))  # the same, of `appointments a`


async def record(conn: Connection, event: AppointmentEvent, status: str) -> None:
    """The appointment as `event` tells it; a cancelled one stays cancelled."""
    await conn.execute(
        "INSERT INTO appointments (appointment_id, patient_id, clinic_id, provider_id, starts_at, status)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (appointment_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,"
        " status = CASE WHEN appointments.status = 'cancelled' THEN 'cancelled' ELSE EXCLUDED.status END,"
        " updated_at = now()",
        event.appointment_id,
        event.patient_id,
        event.clinic_id,
        event.provider_id,
        event.starts_at,
        status,
    )


async def get(conn: Connection, appointment_id: str) -> Appointment | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM appointments WHERE appointment_id = $1", appointment_id)
    return from_row(Appointment, row) if row else None


async def has_future(conn: Connection, patient_id: str, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM appointments WHERE patient_id = $1 AND status = 'booked' AND starts_at > $2 LIMIT 1",
            patient_id,
            now,
        )
    )


async def latest_reminded(conn: Connection, patient_ids: list[str], now: datetime) -> Appointment | None:
    """The appointment of the most recent reminder sent to one of these patients, if still ahead (a
    no-show's outreach: whatever its time)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS_OF_A} FROM messages m JOIN followups f ON f.followup_id = m.followup_id"
        " JOIN appointments a ON a.appointment_id = f.appointment_id"
        " WHERE m.patient_id = ANY($1::text[]) AND m.status = 'sent' AND f.kind IN ('reminder', 'no_show')"
        " AND (a.starts_at > $2 OR f.kind = 'no_show') ORDER BY m.sent_at DESC LIMIT 1",
        patient_ids,
        now,
    )
    return from_row(Appointment, row) if row else None
