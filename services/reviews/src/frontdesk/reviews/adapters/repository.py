"""reviews' own tables (SQL only; the rules are in domain/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from frontdesk.common.contracts import VisitCompleted
from frontdesk.common.db import Connection
from frontdesk.common.rows import Columns, from_row

from ..domain import Preference
from ..domain.records import FeedbackLink, ListedTask, Note, ReviewRequest, StoredTask
from ..domain.reputation import RequestFact

# --- review requests ----------------------------------------------------------------------------


async def lock_patient(conn: Connection, patient_id: str) -> None:
    """Serialize the decisions about one patient (the 90-day cap spans clinics, consumer and timers)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('reviews:patient:' || $1))", patient_id)


async def record_request(
    conn: Connection,
    request_id: str,
    visit: VisitCompleted,
    send_at: datetime,
    *,
    status: str = "scheduled",
    skip_reason: str | None = None,
    decided_at: datetime | None = None,
) -> bool:
    """Insert the visit's request; False if the visit already has one (idempotent on visit_id)."""
    inserted = await conn.fetchval(
        "INSERT INTO review_requests (review_request_id, visit_id, patient_id, clinic_id, provider_id, send_at,"
        " visit_type, completed_at, status, skip_reason, decided_by, decided_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $10::text IS NULL THEN NULL ELSE 'reviews' END,"
        " $11) ON CONFLICT DO NOTHING RETURNING 1",
        request_id,
        visit.visit_id,
        visit.patient_id,
        visit.clinic_id,
        visit.provider_id,
        send_at,
        visit.visit_type,
        visit.completed_at,
        status,
        skip_reason,
        decided_at,
    )
    return inserted is not None


def _request(row: Columns) -> ReviewRequest:
    return from_row(ReviewRequest, row, review_sites=tuple(row["review_sites"] or ()))


async def visit_known(conn: Connection, visit_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM review_requests WHERE visit_id = $1", visit_id))


async def other_request_times(
    conn: Connection, patient_id: str, exclude: str, statuses: tuple[str, ...]
) -> list[datetime]:
    """When the patient's other feedback requests (any clinic) went or will go out."""
    rows = await conn.fetch(
        "SELECT coalesce(sent_at, requested_at, send_at) AS at FROM review_requests"
        " WHERE patient_id = $1 AND review_request_id <> $2 AND status = ANY($3::text[])",
        patient_id,
        exclude,
        list(statuses),
    )
    return [r["at"] for r in rows]


async def get_request(conn: Connection, request_id: str, *, lock: bool = False) -> ReviewRequest | None:
    row = await conn.fetchrow(
        "SELECT * FROM review_requests WHERE review_request_id = $1" + (" FOR UPDATE" if lock else ""), request_id
    )
    return None if row is None else _request(row)


async def by_message_request(conn: Connection, message_request_id: str) -> ReviewRequest | None:
    row = await conn.fetchrow(
        "SELECT * FROM review_requests WHERE message_request_id = $1 FOR UPDATE", message_request_id
    )
    return None if row is None else _request(row)


async def mark_requested(
    conn: Connection, request_id: str, message_request_id: str, scale: str, sites: list[str], at: datetime
) -> None:
    await conn.execute(
        "UPDATE review_requests SET status = 'requested', message_request_id = $2, scale = $3, review_sites = $4,"
        " requested_at = $5 WHERE review_request_id = $1",
        request_id,
        message_request_id,
        scale,
        sites,
        at,
    )


async def mark_sent(conn: Connection, request_id: str, channel: str, sent_at: datetime) -> None:
    await conn.execute(
        "UPDATE review_requests SET status = 'sent', channel = $2, sent_at = $3, decided_at = $3"
        " WHERE review_request_id = $1",
        request_id,
        channel,
        sent_at,
    )


async def mark_skipped(
    conn: Connection,
    request_id: str,
    reason: str,
    decided_by: str,
    at: datetime,
    delivery_reason: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE review_requests SET status = 'skipped', skip_reason = $2, decided_by = $3, decided_at = $4,"
        " delivery_reason = $5 WHERE review_request_id = $1",
        request_id,
        reason,
        decided_by,
        at,
        delivery_reason,
    )
    await conn.execute(
        "UPDATE feedback_links SET revoked_at = $2 WHERE review_request_id = $1 AND revoked_at IS NULL",
        request_id,
        at,
    )


async def clinic_of_visit(conn: Connection, visit_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval("SELECT clinic_id FROM review_requests WHERE visit_id = $1", visit_id)
    return clinic_id


async def for_visit(conn: Connection, visit_id: str) -> list[ReviewRequest]:
    rows = await conn.fetch("SELECT * FROM review_requests WHERE visit_id = $1", visit_id)
    return [_request(r) for r in rows]


# --- consent --------------------------------------------------------------------------------------


async def save_preference(conn: Connection, patient_id: str, channel: str, opted_in: bool, at: datetime) -> None:
    """Keep the latest word per channel; an older event arriving late changes nothing."""
    await conn.execute(
        "INSERT INTO contact_preferences (patient_id, channel, opted_in, changed_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (patient_id, channel) DO UPDATE SET opted_in = EXCLUDED.opted_in,"
        " changed_at = EXCLUDED.changed_at WHERE contact_preferences.changed_at <= EXCLUDED.changed_at",
        patient_id,
        channel,
        opted_in,
        at,
    )


async def preferences(conn: Connection, patient_id: str) -> list[Preference]:
    rows = await conn.fetch(
        "SELECT channel, opted_in, changed_at FROM contact_preferences WHERE patient_id = $1", patient_id
    )
    return [Preference(None if r["channel"] == "*" else r["channel"], r["opted_in"], r["changed_at"]) for r in rows]


# --- feedback links and answers -----------------------------------------------------------------


async def add_link(conn: Connection, token_id: str, request_id: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO feedback_links (token_id, review_request_id, expires_at) VALUES ($1, $2, $3)",
        token_id,
        request_id,
        expires_at,
    )


async def link_with_request(conn: Connection, token_id: str, *, lock: bool = False) -> FeedbackLink | None:
    row = await conn.fetchrow(
        "SELECT l.token_id, l.expires_at, l.used_at, l.revoked_at, r.review_request_id, r.visit_id, r.patient_id,"
        " r.clinic_id, r.provider_id, r.scale FROM feedback_links l JOIN review_requests r USING (review_request_id)"
        " WHERE l.token_id = $1" + (" FOR UPDATE OF l" if lock else ""),
        token_id,
    )
    return None if row is None else from_row(FeedbackLink, row)


async def record_response(
    conn: Connection, token_id: str, request_id: str, scale: str, score: int, comment: str | None, at: datetime
) -> None:
    await conn.execute("UPDATE feedback_links SET used_at = $2 WHERE token_id = $1", token_id, at)
    await conn.execute(
        "INSERT INTO feedback_responses (review_request_id, scale, score, comment, received_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        request_id,
        scale,
        score,
        comment,
        at,
    )


async def comment_for(conn: Connection, request_id: str) -> str | None:
    """The patient's comment with their answer (None: none, or no answer)."""
    comment: str | None = await conn.fetchval(
        "SELECT comment FROM feedback_responses WHERE review_request_id = $1", request_id
    )
    return comment


# --- service recovery ---------------------------------------------------------------------------


async def open_task(conn: Connection, task_id: str, link: FeedbackLink, opened_at: datetime, due_at: datetime) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO recovery_tasks (recovery_task_id, review_request_id, clinic_id, provider_id, opened_at,"
        " first_due_at, due_at, armed_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $5) ON CONFLICT DO NOTHING RETURNING 1",
        task_id,
        link.review_request_id,
        link.clinic_id,
        link.provider_id,
        opened_at,
        due_at,
    )
    return inserted is not None


async def clinic_of_task(conn: Connection, task_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval(
        "SELECT clinic_id FROM recovery_tasks WHERE recovery_task_id = $1", task_id
    )
    return clinic_id


async def get_task(conn: Connection, task_id: str, *, lock: bool = False) -> StoredTask | None:
    row = await conn.fetchrow(
        "SELECT t.*, r.visit_id, r.patient_id, f.scale, f.score FROM recovery_tasks t"
        " JOIN review_requests r USING (review_request_id)"
        " LEFT JOIN feedback_responses f USING (review_request_id)"
        " WHERE t.recovery_task_id = $1" + (" FOR UPDATE OF t" if lock else ""),
        task_id,
    )
    return None if row is None else from_row(StoredTask, row)


async def escalate_task(conn: Connection, task_id: str, level: int, due_at: datetime, at: datetime) -> None:
    await conn.execute(
        "UPDATE recovery_tasks SET level = $2, due_at = $3, armed_at = $4 WHERE recovery_task_id = $1",
        task_id,
        level,
        due_at,
        at,
    )


async def rearm_task(conn: Connection, task_id: str, due_at: datetime, at: datetime) -> None:
    await conn.execute(
        "UPDATE recovery_tasks SET due_at = $2, armed_at = $3 WHERE recovery_task_id = $1", task_id, due_at, at
    )


async def add_note(conn: Connection, task_id: str, author: str, note: str, at: datetime, *, closes: bool) -> None:
    await conn.execute(
        "INSERT INTO recovery_notes (recovery_task_id, author, note, closes, created_at) VALUES ($1, $2, $3, $4, $5)",
        task_id,
        author,
        note,
        closes,
        at,
    )
    await conn.execute(
        "UPDATE recovery_tasks SET last_touched_at = $2,"
        " closed_at = CASE WHEN $3 THEN $2 ELSE closed_at END, closed_by = CASE WHEN $3 THEN $4 ELSE closed_by END"
        " WHERE recovery_task_id = $1",
        task_id,
        at,
        closes,
        author,
    )


async def notes(conn: Connection, task_id: str) -> list[Note]:
    rows = await conn.fetch(
        "SELECT author, note, closes, created_at FROM recovery_notes WHERE recovery_task_id = $1 ORDER BY id",
        task_id,
    )
    return [from_row(Note, r) for r in rows]


async def list_tasks(
    conn: Connection, clinic_id: str, status: str | None, after: tuple[Any, ...], limit: int
) -> list[ListedTask]:
    """The clinic's recovery tasks by deadline, after the (due_at, recovery_task_id) `after`."""
    where = {"open": " AND closed_at IS NULL", "closed": " AND closed_at IS NOT NULL", None: ""}[status]
    rows = await conn.fetch(
        "SELECT recovery_task_id, review_request_id, clinic_id, provider_id, opened_at, first_due_at, due_at, level,"
        " last_touched_at, closed_at, closed_by FROM recovery_tasks WHERE clinic_id = $1" + where + " AND"
        " ($2::timestamptz IS NULL OR (due_at, recovery_task_id) > ($2, $3))"
        " ORDER BY due_at, recovery_task_id LIMIT $4",
        clinic_id,
        *after,
        limit,
    )
    return [from_row(ListedTask, r) for r in rows]


# --- reputation ---------------------------------------------------------------------------------


async def week_facts(conn: Connection, clinic_id: str, start: datetime, end: datetime) -> list[RequestFact]:
    """The requests sent in [start, end) with their answers and recovery tasks."""
    rows = await conn.fetch(
        "SELECT r.provider_id, f.scale, f.score, t.recovery_task_id IS NOT NULL AS escalated,"
        " t.first_due_at AS deadline, t.closed_at FROM review_requests r"
        " LEFT JOIN feedback_responses f USING (review_request_id)"
        " LEFT JOIN recovery_tasks t USING (review_request_id)"
        " WHERE r.clinic_id = $1 AND r.status = 'sent' AND r.sent_at >= $2 AND r.sent_at < $3",
        clinic_id,
        start,
        end,
    )
    return [from_row(RequestFact, r) for r in rows]


async def clinic_ids(conn: Connection) -> list[str]:
    return [r["clinic_id"] for r in await conn.fetch("SELECT clinic_id FROM clinics ORDER BY clinic_id")]


async def mark_published(conn: Connection, clinic_id: str, week: str) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO reputation_published (clinic_id, week) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        clinic_id,
        week,
    )
    return inserted is not None
