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

from frontdesk.common.contracts import ContactPreferenceChanged, FollowupEscalated
from frontdesk.common.uow import UnitOfWork

from .adapters import appointment_rows, repository
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
    """A patient's SMS reply: STOP/START for every patient on the number, an answer to the latest
    reminder, and a staff task for a concern or anything not understood."""
    patients = await repository.patients_with_phone(uow.conn, normalise_phone(phone))
    if not patients:
        REPLIES.labels("unknown_sender").inc()
        return {"matched": False}
    meaning = classify(text)
    outcome: dict[str, object] = {"matched": True}
    if meaning.opt_out or meaning.opt_in:
        outcome["preference"] = "opted_out" if meaning.opt_out else "opted_in"
        outcome["changes"] = await _change_preference(uow, patients, meaning.opt_out, received_at)
        REPLIES.labels(str(outcome["preference"])).inc()
    if meaning.answer is not None:
        if await _answer_reminder(uow, patients, meaning.answer, received_at):
            outcome["answer"] = meaning.answer
            REPLIES.labels(meaning.answer).inc()
        else:
            meaning = meaning.__class__(answer=None, concern=meaning.concern)  # nothing to answer: staff look
    if meaning.concern is not None or not (meaning.opt_out or meaning.opt_in or meaning.answer):
        reason: Literal["clinical_concern", "unrecognised_reply"] = (
            "clinical_concern" if meaning.concern else "unrecognised_reply"
        )
        outcome["task_id"] = await _escalate(uow, patients, reason, meaning.concern or "routine", text, received_at)
        REPLIES.labels(reason).inc()
    return outcome


async def _change_preference(uow: UnitOfWork, patients: list[str], opt_out: bool, at: datetime) -> int:
    """STOP (or START) for every patient on the number (a shared phone stops or restarts together);
    how many consent entries changed."""
    changed = 0
    for patient_id in patients:
        await repository.lock_patient(uow.conn, patient_id)
        ledger = await repository.ledger(uow.conn, patient_id)
        entries = consent.opt_out_all(ledger, at) if opt_out else consent.opt_back_in(ledger, at)
        await repository.add_consent(uow.conn, patient_id, entries)
        for entry in entries:
            await uow.emit(
                ContactPreferenceChanged(
                    patient_id=patient_id, purpose=entry.purpose, opted_in=entry.opted_in, changed_at=at, source="reply"
                )
            )
        changed += len(entries)
    return changed


async def _answer_reminder(uow: UnitOfWork, patients: list[str], answer: str, at: datetime) -> bool:
    """The answer to the latest reminder sent to the number; False if there is none to answer."""
    appointment = await appointment_rows.latest_reminded(uow.conn, patients, at)
    if appointment is None:
        return False
    await uow.emit(appointment.reply_received(answer, at))
    return True


async def _escalate(
    uow: UnitOfWork,
    patients: list[str],
    reason: Literal["clinical_concern", "unrecognised_reply"],
    urgency: Literal["routine", "urgent"],
    text: str,
    at: datetime,
) -> str:
    """A staff task with the reply's words (in followup's own table, never on a topic); its id."""
    clinic_id = await repository.latest_message_clinic(uow.conn, patients)
    task_patient = patients[0] if len(patients) == 1 else None
    task_id = f"task-{uuid.uuid4().hex[:16]}"
    await repository.insert_task(
        uow.conn, task_id, clinic_id or "unassigned", task_patient, reason, urgency, text[:1000]
    )
    await uow.emit(
        FollowupEscalated(
            task_id=task_id,
            clinic_id=clinic_id or "unassigned",
            patient_id=task_patient,
            reason=reason,
            urgency=urgency,
            escalated_at=at,
        )
    )
    return task_id
