"""SQL of the worklists (callbacks, recovery tasks, follow-up tasks, waitlist offers, reschedule tasks):
one home.

Events of one item travel on different topics (a callback's request, plan and completion), so each
write fills only its own columns and keeps the first value it saw; an item's state follows from
which facts are known.
"""

from __future__ import annotations

from datetime import datetime

from frontdesk.common.db import Connection

from ..domain.worklists import (
    AppointmentNow,
    Callback,
    FollowupTask,
    QuarantinedMessage,
    RecoveryTask,
    RescheduleTask,
    WaitlistOffer,
)

FOLLOWUP_TASK_LIST_LIMIT = 100


async def callback_fact(conn: Connection, callback_id: str, clinic_id: str, column: str, at: datetime) -> None:
    """One dated fact of a callback (due_at, escalated_at, completed_at): the first one kept."""
    assert column in ("due_at", "escalated_at", "completed_at"), column
    await conn.execute(
        f"INSERT INTO console_callbacks (callback_id, clinic_id, {column}) VALUES ($1, $2, $3)"
        f" ON CONFLICT (callback_id) DO UPDATE SET {column} = COALESCE(console_callbacks.{column}, EXCLUDED.{column})",
        callback_id,
        clinic_id,
        at,
    )


async def recovery_escalated(conn: Connection, task: RecoveryTask, clinic_id: str, review_request_id: str) -> None:
    """The newest escalation (highest level) sets the level and the deadline."""
    await conn.execute(
        "INSERT INTO console_recovery_tasks (recovery_task_id, clinic_id, provider_id, review_request_id, level,"
        " scale, score, due_at, escalated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (recovery_task_id) DO UPDATE SET provider_id = EXCLUDED.provider_id,"
        " review_request_id = EXCLUDED.review_request_id, scale = EXCLUDED.scale, score = EXCLUDED.score,"
        " level = GREATEST(console_recovery_tasks.level, EXCLUDED.level),"
        " due_at = CASE WHEN console_recovery_tasks.level IS NULL OR console_recovery_tasks.level < EXCLUDED.level"
        "   THEN EXCLUDED.due_at ELSE console_recovery_tasks.due_at END,"
        " escalated_at = COALESCE(console_recovery_tasks.escalated_at, EXCLUDED.escalated_at)",
        task.recovery_task_id,
        clinic_id,
        task.provider_id,
        review_request_id,
        task.level,
        task.scale,
        task.score,
        task.due_at,
        task.escalated_at,
    )


async def recovery_closed(
    conn: Connection, task_id: str, clinic_id: str, provider_id: str, at: datetime, within_deadline: bool
) -> None:
    await conn.execute(
        "INSERT INTO console_recovery_tasks (recovery_task_id, clinic_id, provider_id, closed_at, within_deadline)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (recovery_task_id) DO UPDATE SET"
        " closed_at = COALESCE(console_recovery_tasks.closed_at, EXCLUDED.closed_at),"
        " within_deadline = COALESCE(console_recovery_tasks.within_deadline, EXCLUDED.within_deadline)",
        task_id,
        clinic_id,
        provider_id,
        at,
        within_deadline,
    )


async def followup_escalated(
    conn: Connection, task_id: str, clinic_id: str, reason: str, urgency: str, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO console_followup_tasks (task_id, clinic_id, reason, urgency, escalated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (task_id) DO NOTHING",
        task_id,
        clinic_id,
        reason,
        urgency,
        at,
    )


async def waitlist_offered(conn: Connection, clinic_id: str, offer: WaitlistOffer, offered_at: datetime | None) -> None:
    await conn.execute(
        "INSERT INTO console_waitlist_offers (offer_id, clinic_id, provider_id, appointment_type, starts_at, ends_at,"
        " expires_at, offered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (offer_id) DO UPDATE SET"
        " provider_id = EXCLUDED.provider_id, appointment_type = EXCLUDED.appointment_type,"
        " starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, expires_at = EXCLUDED.expires_at,"
        " offered_at = COALESCE(console_waitlist_offers.offered_at, EXCLUDED.offered_at)",
        offer.offer_id,
        clinic_id,
        offer.provider_id,
        offer.appointment_type,
        offer.starts_at,
        offer.ends_at,
        offer.expires_at,
        offered_at,
    )


async def waitlist_closed(
    conn: Connection,
    offer_id: str,
    clinic_id: str,
    outcome: str,
    closed_at: datetime | None,
    appointment_id: str | None,
) -> None:
    """The first closing kept (its outcome, when, and the appointment an acceptance booked)."""
    await conn.execute(
        "INSERT INTO console_waitlist_offers (offer_id, clinic_id, outcome, closed_at, appointment_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (offer_id) DO UPDATE SET"
        " outcome = COALESCE(console_waitlist_offers.outcome, EXCLUDED.outcome),"
        " closed_at = COALESCE(console_waitlist_offers.closed_at, EXCLUDED.closed_at),"
        " appointment_id = COALESCE(console_waitlist_offers.appointment_id, EXCLUDED.appointment_id)",
        offer_id,
        clinic_id,
        outcome,
        closed_at,
        appointment_id,
    )


async def reschedule_task(conn: Connection, clinic_id: str, task: RescheduleTask) -> None:
    """A task's facts never change: a repeat changes nothing (its appointment type is read from the
    appointment's own events)."""
    await conn.execute(
        "INSERT INTO console_reschedule_tasks (reschedule_id, clinic_id, appointment_id, provider_id, starts_at,"
        " opened_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reschedule_id) DO NOTHING",
        task.reschedule_id,
        clinic_id,
        task.appointment_id,
        task.provider_id,
        task.starts_at,
        task.opened_at,
        task.due_at,
    )


# --- reads --------------------------------------------------------------------------------------


async def open_callbacks(conn: Connection, clinic_id: str, limit: int = 200) -> list[Callback]:
    """Callbacks not completed, oldest request first (one known only from its plan comes last)."""
    rows = await conn.fetch(
        "SELECT callback_id, reason, urgency, requested_at, due_at, escalated_at FROM console_callbacks"
        " WHERE clinic_id = $1 AND completed_at IS NULL AND (requested_at IS NOT NULL OR due_at IS NOT NULL)"
        " ORDER BY requested_at NULLS LAST, callback_id LIMIT $2",
        clinic_id,
        limit,
    )
    return [Callback(**dict(r)) for r in rows]


async def open_recovery_tasks(conn: Connection, clinic_id: str, limit: int = 200) -> list[RecoveryTask]:
    rows = await conn.fetch(
        "SELECT recovery_task_id, provider_id, level, scale, score, due_at, escalated_at FROM console_recovery_tasks"
        " WHERE clinic_id = $1 AND closed_at IS NULL AND due_at IS NOT NULL ORDER BY due_at, recovery_task_id"
        " LIMIT $2",
        clinic_id,
        limit,
    )
    return [RecoveryTask(**dict(r)) for r in rows]


async def recent_followup_tasks(conn: Connection, clinic_id: str, since: datetime) -> list[FollowupTask]:
    """Escalations since `since` other than overdue callbacks (those show in the callback list)."""
    rows = await conn.fetch(
        "SELECT task_id, reason, urgency, escalated_at FROM console_followup_tasks WHERE clinic_id = $1"
        " AND escalated_at >= $2 AND reason <> 'callback_overdue'"
        " ORDER BY (urgency = 'urgent') DESC, escalated_at, task_id LIMIT $3",
        clinic_id,
        since,
        FOLLOWUP_TASK_LIST_LIMIT,
    )
    return [FollowupTask(**dict(r)) for r in rows]


async def offers_in_flight(conn: Connection, clinic_id: str, now: datetime) -> list[WaitlistOffer]:
    rows = await conn.fetch(
        "SELECT offer_id, provider_id, appointment_type, starts_at, ends_at, expires_at FROM console_waitlist_offers"
        " WHERE clinic_id = $1 AND outcome IS NULL AND expires_at > $2 ORDER BY expires_at, offer_id LIMIT 200",
        clinic_id,
        now,
    )
    return [WaitlistOffer(**dict(r)) for r in rows]


async def quarantined(conn: Connection, clinic_id: str, message: QuarantinedMessage) -> None:
    """A message's quarantine never changes: a repeat changes nothing."""
    await conn.execute(
        "INSERT INTO console_hl7_quarantine (clinic_id, sending_facility, control_id, message_type, reason,"
        " received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        clinic_id,
        message.sending_facility,
        message.control_id,
        message.message_type,
        message.reason,
        message.received_at,
    )


async def quarantine(conn: Connection, clinic_id: str, limit: int = 100) -> list[QuarantinedMessage]:
    """The clinic's quarantined messages, newest first."""
    rows = await conn.fetch(
        "SELECT sending_facility, control_id, message_type, reason, received_at FROM console_hl7_quarantine"
        " WHERE clinic_id = $1 ORDER BY received_at DESC, sending_facility, control_id LIMIT $2",
        clinic_id,
        limit,
    )
    return [QuarantinedMessage(**dict(r)) for r in rows]


async def reschedule_tasks(
    conn: Connection, clinic_ids: list[str] | None, now: datetime, limit: int = 5000
) -> list[tuple[str, RescheduleTask, AppointmentNow | None]]:
    """The tasks of these clinics (all: None) whose appointment is still ahead, each with its clinic and
    what is known of the appointment now (domain/worklists.py decides which are open), by deadline."""
    rows = await conn.fetch(
        "SELECT t.clinic_id, t.reschedule_id, t.appointment_id, t.provider_id, a.appointment_type, t.starts_at,"
        " t.opened_at, t.due_at, a.appointment_id IS NOT NULL AS known, a.starts_at AS now_starts_at,"
        " (a.cancelled_at IS NOT NULL OR a.checked_in_at IS NOT NULL OR a.no_show IS NOT NULL"
        "  OR a.completed_at IS NOT NULL) AS settled"
        " FROM console_reschedule_tasks t LEFT JOIN console_appointments a USING (appointment_id)"
        " WHERE ($1::text[] IS NULL OR t.clinic_id = ANY($1)) AND t.starts_at > $2"
        " ORDER BY t.due_at, t.reschedule_id LIMIT $3",
        clinic_ids,
        now,
        limit,
    )
    return [
        (
            r["clinic_id"],
            RescheduleTask(
                r["reschedule_id"],
                r["appointment_id"],
                r["provider_id"],
                r["appointment_type"],
                r["starts_at"],
                r["opened_at"],
                r["due_at"],
            ),
            AppointmentNow(r["now_starts_at"], r["settled"]) if r["known"] else None,
        )
        for r in rows
    ]
