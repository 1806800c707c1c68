"""Inbound replies and delivery receipts (arriving over signed webhooks).

Opt-out words are applied at once and announced as contact.preference_changed; 1/2/3 become
appointment.reply_received for the scheduler; a reply that looks like a clinical concern (or that
nobody can understand automatically) opens a staff task and followup.escalated. The reply's text
stays in followup's database.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from frontdesk.common.contracts import AppointmentReplyReceived, ContactPreferenceChanged, FollowupEscalated
from frontdesk.common.uow import UnitOfWork

from .adapters import repository
from .domain import consent
from .domain.replies import classify
from .telemetry import REPLIES

SIGNATURE_TOLERANCE_SECONDS = 300


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secrets: Sequence[bytes], timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """None if the request is authentic (signed with one of `secrets`: several during a rotation)
    and fresh, else what is wrong with it."""
    if not timestamp or not signature:
        return "missing X-Frontdesk-Timestamp or X-Frontdesk-Signature"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "X-Frontdesk-Timestamp must be Unix seconds"
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        return "timestamp outside the allowed window"
    # A header is decoded as Latin-1: compare bytes, so that a non-ASCII one is just a wrong signature.
    given = signature.encode("latin-1", "replace")
    if not any(hmac.compare_digest(sign(s, timestamp, body).encode(), given) for s in secrets):
        return "bad signature"
    return None


def normalise_phone(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return "+" + digits


async def apply_reply(uow: UnitOfWork, phone: str, text: str, received_at: datetime) -> dict[str, object]:
    conn = uow.conn
    patients = await repository.patients_with_phone(conn, normalise_phone(phone))
    if not patients:
        REPLIES.labels("unknown_sender").inc()
        return {"matched": False}
    meaning = classify(text)
    outcome: dict[str, object] = {"matched": True}
    if meaning.opt_out or meaning.opt_in:
        changed = 0
        for patient_id in patients:
            # A shared phone: every patient on it stops (or restarts) together.
            await repository.lock_patient(conn, patient_id)
            ledger = await repository.ledger(conn, patient_id)
            entries = (
                consent.opt_out_all(ledger, received_at)
                if meaning.opt_out
                else consent.opt_back_in(ledger, received_at)
            )
            await repository.add_consent(conn, patient_id, entries)
            for entry in entries:
                await uow.emit(
                    ContactPreferenceChanged(
                        patient_id=patient_id,
                        purpose=entry.purpose,
                        opted_in=entry.opted_in,
                        changed_at=received_at,
                        source="reply",
                    )
                )
            changed += len(entries)
        outcome["preference"] = "opted_out" if meaning.opt_out else "opted_in"
        outcome["changes"] = changed
        REPLIES.labels(str(outcome["preference"])).inc()
    if meaning.answer is not None:
        appointment = await repository.latest_reminder_for(conn, patients, received_at)
        if appointment is not None:
            await uow.emit(
                AppointmentReplyReceived(
                    appointment_id=appointment["appointment_id"],
                    patient_id=appointment["patient_id"],
                    clinic_id=appointment["clinic_id"],
                    provider_id=appointment["provider_id"],
                    reply=meaning.answer,
                    received_at=received_at,
                )
            )
            outcome["answer"] = meaning.answer
            REPLIES.labels(meaning.answer).inc()
        else:
            meaning = meaning.__class__(answer=None, concern=meaning.concern)  # nothing to answer: staff look
    if meaning.concern is not None or not (meaning.opt_out or meaning.opt_in or meaning.answer):
        reason: Literal["clinical_concern", "unrecognised_reply"] = (
            "clinical_concern" if meaning.concern else "unrecognised_reply"
        )
        urgency: Literal["routine", "urgent"] = meaning.concern or "routine"
        clinic_id = await conn.fetchval(
            "SELECT clinic_id FROM messages WHERE patient_id = ANY($1::text[]) ORDER BY created_at DESC LIMIT 1",
            patients,
        )
        task_patient = patients[0] if len(patients) == 1 else None
        task_id = f"task-{uuid.uuid4().hex[:16]}"
        await repository.insert_task(
            conn, task_id, clinic_id or "unassigned", task_patient, reason, urgency, text[:1000]
        )
        await uow.emit(
            FollowupEscalated(
                task_id=task_id,
                clinic_id=clinic_id or "unassigned",
                patient_id=task_patient,
                reason=reason,
                urgency=urgency,
                escalated_at=received_at,
            )
        )
        outcome["task_id"] = task_id
        REPLIES.labels(reason).inc()
    return outcome
