"""followup's own tables (contacts, consent ledger, messages, plans, callbacks, tasks); the rows
sending decides on are in message_rows.py, appointments in appointment_rows.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from frontdesk.common.contracts import CallbackRequested
from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row

from ..domain.consent import ConsentEntry
from .policy_inputs import Contact

# ---------------------------------------------------------------- plans (followups)


async def plan(
    conn: Connection,
    followup_id: str,
    kind: str,
    patient_id: str,
    clinic_id: str,
    due_at: datetime,
    *,
    visit_id: str | None = None,
    appointment_id: str | None = None,
    callback_id: str | None = None,
) -> bool:
    """Plan one follow-up; False if it already exists (idempotent by business key)."""
    inserted = await conn.fetchval(
        "INSERT INTO followups (followup_id, kind, visit_id, patient_id, clinic_id, due_at, appointment_id,"
        " callback_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING 1",
        followup_id,
        kind,
        visit_id,
        patient_id,
        clinic_id,
        due_at,
        appointment_id,
        callback_id,
    )
    return bool(inserted)


async def set_followup_status(conn: Connection, followup_id: str, status: str, reason: str | None = None) -> None:
    await conn.execute(
        "UPDATE followups SET status = $2, reason = $3, updated_at = now() WHERE followup_id = $1",
        followup_id,
        status,
        reason,
    )


async def for_patient(
    conn: Connection, patient_id: str, clinics: list[str] | None, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The patient's plans at `clinics` (None: at every clinic), after the (due_at, followup_id) `after`."""
    rows = await conn.fetch(
        "SELECT followup_id, kind, visit_id, appointment_id, callback_id, patient_id, clinic_id, due_at, status,"
        " reason, created_at, updated_at FROM followups WHERE patient_id = $1"
        " AND ($2::text[] IS NULL OR clinic_id = ANY($2))"
        " AND ($3::timestamptz IS NULL OR (due_at, followup_id) > ($3, $4)) ORDER BY due_at, followup_id LIMIT $5",
        patient_id,
        clinics,
        *after,
        limit,
    )
    return [dict(r) for r in rows]


# ---------------------------------------------------------------- which clinics see a patient


async def clinics_of_patient(conn: Connection, patient_id: str) -> list[str]:
    """The clinics linked to a patient: by a plan, message, appointment, callback, staff task, or the
    token that registered them."""
    rows = await conn.fetch(
        "SELECT clinic_id FROM patient_clinics WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM followups WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM messages WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM appointments WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM callbacks WHERE patient_id = $1"
        " UNION SELECT clinic_id FROM staff_tasks WHERE patient_id = $1",
        patient_id,
    )
    return [r["clinic_id"] for r in rows]


async def registering_clinics(conn: Connection, patient_id: str) -> list[str]:
    """The clinics that registered the patient with followup: the only ones that change their contact
    details and consents (docs/patients.md)."""
    rows = await conn.fetch("SELECT clinic_id FROM patient_clinics WHERE patient_id = $1", patient_id)
    return [r["clinic_id"] for r in rows]


async def patient_on_file(conn: Connection, patient_id: str) -> bool:
    """Contact details or consent recorded (possibly by a network-wide client, with no clinic link)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE patient_id = $1)"
            " OR EXISTS (SELECT 1 FROM consent_ledger WHERE patient_id = $1)",
            patient_id,
        )
    )


async def link_patient(conn: Connection, patient_id: str, clinic_ids: Iterable[str]) -> None:
    await conn.executemany(
        "INSERT INTO patient_clinics (patient_id, clinic_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(patient_id, clinic_id) for clinic_id in sorted(clinic_ids)],
    )


# ---------------------------------------------------------------- contacts and consent


async def upsert_contact(
    conn: Connection,
    patient_id: str,
    phone: str | None,
    email: str | None,
    timezone: str | None,
    state: str | None,
    preferred_channel: str,
) -> None:
    await conn.execute(
        "INSERT INTO contacts (patient_id, phone, email, timezone, state, preferred_channel)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id) DO UPDATE SET phone = EXCLUDED.phone,"
        " email = EXCLUDED.email, timezone = EXCLUDED.timezone, state = EXCLUDED.state,"
        " preferred_channel = EXCLUDED.preferred_channel, updated_at = now()",
        patient_id,
        phone,
        email,
        timezone,
        state,
        preferred_channel,
    )


async def get_contact(conn: Connection, patient_id: str, *, lock: bool = False) -> Contact | None:
    sql = "SELECT phone, email, timezone, state, preferred_channel FROM contacts WHERE patient_id = $1" + (
        " FOR UPDATE" if lock else ""
    )
    row = await conn.fetchrow(sql, patient_id)
    return from_row(Contact, row) if row else None


async def patients_with_phone(conn: Connection, phone: str) -> list[str]:
    rows = await conn.fetch("SELECT patient_id FROM contacts WHERE phone = $1 ORDER BY patient_id", phone)
    return [r["patient_id"] for r in rows]


async def ledger(conn: Connection, patient_id: str) -> list[ConsentEntry]:
    rows = await conn.fetch(
        "SELECT purpose, opted_in, recorded_at, source FROM consent_ledger WHERE patient_id = $1 ORDER BY id",
        patient_id,
    )
    return [ConsentEntry(r["purpose"], r["opted_in"], r["recorded_at"], r["source"]) for r in rows]


async def add_consent(conn: Connection, patient_id: str, entries: list[ConsentEntry]) -> None:
    if entries:
        await conn.executemany(
            "INSERT INTO consent_ledger (patient_id, purpose, opted_in, source, recorded_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(patient_id, e.purpose, e.opted_in, e.source, e.at) for e in entries],
        )


# ---------------------------------------------------------------- messages (the send outbox)


async def insert_message(
    conn: Connection,
    *,
    message_request_id: str,
    requested_by: str,
    patient_id: str,
    clinic_id: str,
    purpose: str,
    template: str,
    variables: dict[str, str],
    not_before: datetime | None,
    expires_at: datetime | None,
    followup_id: str | None = None,
) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO messages (message_request_id, requested_by, patient_id, clinic_id, purpose, template,"
        " variables, not_before, expires_at, followup_id, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING 1",
        message_request_id,
        requested_by,
        patient_id,
        clinic_id,
        purpose,
        template,
        variables,
        not_before,
        expires_at,
        followup_id,
        f"fd-{requested_by}-{message_request_id}",
    )
    return bool(inserted)


async def lock_patient(conn: Connection, patient_id: str) -> None:
    """Queue what changes or reads one patient's contact, consents and sends (transaction-scoped): two
    send decisions cannot both pass a cap, and a send never sees half a registration."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "followup-patient:" + patient_id)


async def set_message_timer(conn: Connection, message_request_id: str, timer_key: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE messages SET timer_key = $2, timer_seq = timer_seq + 1, next_at = $3 WHERE message_request_id = $1",
        message_request_id,
        timer_key,
        at,
    )


async def finish_message(
    conn: Connection,
    message_request_id: str,
    status: str,
    *,
    at: datetime,
    reason: str | None = None,
    detail: str | None = None,
    channel: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE messages SET status = $2, reason = $3, detail = $4, channel = COALESCE($5, channel),"
        " provider_message_id = COALESCE($6, provider_message_id), finished_at = $7,"
        " sent_at = CASE WHEN $2 = 'sent' THEN $7 ELSE sent_at END, timer_key = NULL, next_at = NULL"
        " WHERE message_request_id = $1",
        message_request_id,
        status,
        reason,
        detail,
        channel,
        provider_message_id,
        at,
    )


async def count_attempt(conn: Connection, message_request_id: str, reason: str) -> int:
    attempts: int = await conn.fetchval(
        "UPDATE messages SET attempts = attempts + 1, detail = $2 WHERE message_request_id = $1 RETURNING attempts",
        message_request_id,
        reason,
    )
    return attempts


async def sent_times(conn: Connection, patient_id: str, purpose: str, since: datetime) -> list[datetime]:
    rows = await conn.fetch(
        "SELECT sent_at FROM messages WHERE patient_id = $1 AND purpose = $2 AND status = 'sent' AND sent_at > $3",
        patient_id,
        purpose,
        since,
    )
    return [r["sent_at"] for r in rows]


async def messages_for_patient(
    conn: Connection, patient_id: str, clinics: list[str] | None, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The patient's messages from `clinics` (None: from every clinic), after the (created_at,
    message_request_id) `after`."""
    rows = await conn.fetch(
        "SELECT message_request_id, requested_by, clinic_id, purpose, template, followup_id, status, channel,"
        " attempts, reason, detail, next_at, sent_at, finished_at, receipt_status, created_at"
        " FROM messages WHERE patient_id = $1 AND ($2::text[] IS NULL OR clinic_id = ANY($2))"
        " AND ($3::timestamptz IS NULL OR (created_at, message_request_id) > ($3, $4))"
        " ORDER BY created_at, message_request_id LIMIT $5",
        patient_id,
        clinics,
        *after,
        limit,
    )
    return [dict(r) for r in rows]


async def latest_message_clinic(conn: Connection, patient_ids: list[str]) -> str | None:
    """The clinic of the newest message to any of these patients (None: none was asked for)."""
    clinic_id: str | None = await conn.fetchval(
        "SELECT clinic_id FROM messages WHERE patient_id = ANY($1::text[]) ORDER BY created_at DESC LIMIT 1",
        patient_ids,
    )
    return clinic_id


async def clinic_sent_since(conn: Connection, clinic_id: str, since: datetime) -> int:
    """How many messages the clinic's patients were sent since `since` (its daily message limit)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM messages WHERE clinic_id = $1 AND status = 'sent' AND sent_at >= $2", clinic_id, since
    )
    return count


async def record_receipt(conn: Connection, provider_message_id: str, status: str, at: datetime) -> bool:
    updated = await conn.execute(
        "UPDATE messages SET receipt_status = $2, receipt_at = $3 WHERE provider_message_id = $1",
        provider_message_id,
        status,
        at,
    )
    return updated != "UPDATE 0"


# ---------------------------------------------------------------- callbacks and staff tasks


async def insert_callback(
    conn: Connection, event: CallbackRequested, *, due_at: datetime, escalate_at: datetime
) -> bool:
    """The callback `event` asks for, due when the clinic opens; False if it was asked before."""
    inserted = await conn.fetchval(
        "INSERT INTO callbacks (callback_id, clinic_id, caller_token, patient_id, reason, urgency, requested_at,"
        " due_at, escalate_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING 1",
        event.callback_id,
        event.clinic_id,
        event.caller_token,
        event.patient_id,
        event.reason,
        event.urgency,
        event.requested_at,
        due_at,
        escalate_at,
    )
    return bool(inserted)


async def clinic_of_callback(conn: Connection, callback_id: str) -> str | None:
    clinic_id: str | None = await conn.fetchval("SELECT clinic_id FROM callbacks WHERE callback_id = $1", callback_id)
    return clinic_id


async def lock_callback(conn: Connection, callback_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM callbacks WHERE callback_id = $1 FOR UPDATE", callback_id)
    return dict(row) if row else None


async def mark_callback_escalated(conn: Connection, callback_id: str, at: datetime) -> None:
    await conn.execute("UPDATE callbacks SET escalated_at = $2 WHERE callback_id = $1", callback_id, at)


async def complete_callback(conn: Connection, callback_id: str, by: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE callbacks SET status = 'done', completed_at = $3, completed_by = $2 WHERE callback_id = $1",
        callback_id,
        by,
        at,
    )


async def callbacks_for_clinic(
    conn: Connection, clinic_id: str, status: str, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The clinic's callbacks, after the (due_at, callback_id) `after`."""
    rows = await conn.fetch(
        "SELECT * FROM callbacks WHERE clinic_id = $1 AND ($2 = 'all' OR status = $2)"
        " AND ($3::timestamptz IS NULL OR (due_at, callback_id) > ($3, $4)) ORDER BY due_at, callback_id LIMIT $5",
        clinic_id,
        status,
        *after,
        limit,
    )
    return [dict(r) for r in rows]


async def insert_task(
    conn: Connection, task_id: str, clinic_id: str, patient_id: str | None, kind: str, urgency: str, body: str
) -> None:
    await conn.execute(
        "INSERT INTO staff_tasks (task_id, clinic_id, patient_id, kind, urgency, body) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT DO NOTHING",
        task_id,
        clinic_id,
        patient_id,
        kind,
        urgency,
        body,
    )


async def tasks_for_clinic(
    conn: Connection, clinic_id: str, after: tuple[Any, ...], limit: int
) -> list[dict[str, Any]]:
    """The clinic's open staff tasks, after the (created_at, task_id) `after`."""
    rows = await conn.fetch(
        "SELECT * FROM staff_tasks WHERE clinic_id = $1 AND status = 'open'"
        " AND ($2::timestamptz IS NULL OR (created_at, task_id) > ($2, $3)) ORDER BY created_at, task_id LIMIT $4",
        clinic_id,
        *after,
        limit,
    )
    return [dict(r) for r in rows]


async def save_short_links(conn: Connection, links: dict[str, str]) -> None:
    """Store code -> URL; a code already taken by another URL (a hash collision) is an error."""
    for code, url in links.items():
        stored = await conn.fetchval(
            "WITH i AS (INSERT INTO short_links (code, url) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING url)"
            " SELECT url FROM i UNION ALL SELECT url FROM short_links WHERE code = $1 LIMIT 1",
            code,
            url,
        )
        if stored != url:
            raise ValueError(f"short link code {code} collides")


async def resolve_short_link(conn: Connection, code: str) -> str | None:
    url: str | None = await conn.fetchval("SELECT url FROM short_links WHERE code = $1", code)
    return url


async def seen_webhook(conn: Connection, signature: str) -> bool:
    """Remember a signature; True if it was already seen (a replay)."""
    await conn.execute("DELETE FROM webhook_seen WHERE received_at < now() - interval '1 day'")
    inserted = await conn.fetchval(
        "INSERT INTO webhook_seen (signature) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", signature
    )
    return inserted is None
