"""The one-time codes of the scheduler's booking page: booking.code_requested -> one SMS to the number
the person typed, through the same channel (and provider idempotency key) as every message.

The number and the code arrive sealed for followup; they are opened here, put in the SMS and
forgotten: no row, log line or metric holds either (booking_code_messages records only what became
of the code). The contact rules that fit a code the person asked for seconds ago on the page:
- a number that opted out (STOP from any patient with this number) gets nothing (`opted_out`);
- the clinic's daily message limit counts codes too (`frequency_cap`);
- a code that could no longer arrive before its hold ends is not sent (`expired`).
Quiet hours and the per-patient caps do not apply: nobody is contacted unasked (the scheduler limits
codes per number and per address, which is what keeps this from being a way to text someone).
A transient provider failure is retried with the event (the consumer's backoff), never past the expiry.
"""

from __future__ import annotations

from datetime import datetime

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import BookingCodeRequested
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.sealing import Keyring, SealingError
from frontdesk.common.uow import UnitOfWork

from . import sending
from .adapters import repository
from .adapters.channels import Outgoing, get_channel
from .domain import consent
from .domain.clinic_limit import day_start
from .domain.templates import TemplateError, format_time, practice_name, render
from .telemetry import MESSAGES, SKIPS

log = get_logger(__name__)
KEYRING = Keyring.from_env()  # the booking-codes recipient's keys (deploy: followup's secret)
TEMPLATE = "booking-code"


class ProviderUnavailable(Exception):
    """The provider failed for now: the event is tried again (the consumer's backoff)."""


async def _record(conn: Connection, event: BookingCodeRequested, status: str, reason: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO booking_code_messages (verification_id, clinic_id, status, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (verification_id) DO NOTHING",
        event.verification_id,
        event.clinic_id,
        status,
        reason,
    )
    MESSAGES.labels("sent" if status == "sent" else status).inc()
    if status != "sent":
        SKIPS.labels(reason or status).inc()


async def _opted_out(conn: Connection, phone: str) -> bool:
    for patient_id in await repository.patients_with_phone(conn, phone):
        if consent.state(await repository.ledger(conn, patient_id), "treatment") == "opted_out":
            return True
    return False


async def _sent_today(conn: Connection, clinic_id: str, since: datetime) -> int:
    codes: int = await conn.fetchval(
        "SELECT count(*) FROM booking_code_messages WHERE clinic_id = $1 AND status = 'sent' AND decided_at >= $2",
        clinic_id,
        since,
    )
    return codes + await repository.clinic_sent_since(conn, clinic_id, since)


async def handle_code_requested(event: BookingCodeRequested, uow: UnitOfWork) -> None:
    conn, now = uow.conn, sending.now_utc()
    if await conn.fetchval("SELECT 1 FROM booking_code_messages WHERE verification_id = $1", event.verification_id):
        return  # decided before (the same attempt again)
    if event.expires_at <= now:
        await _record(conn, event, "skipped", "expired")
        return
    clinic = await get_clinic(conn, event.clinic_id)
    if clinic is None:
        await _record(conn, event, "skipped", "unknown_clinic")
        return
    try:
        phone, code = event.open(KEYRING)
    except (SealingError, ValueError):
        log.warning("a booking code that does not open", verification_id=event.verification_id)
        await _record(conn, event, "skipped", "unreadable")
        return
    if await _opted_out(conn, phone):
        await _record(conn, event, "skipped", "opted_out")
        return
    if await _sent_today(conn, clinic.clinic_id, day_start(now, clinic.zone)) >= clinic.messaging.daily_message_limit:
        await _record(conn, event, "skipped", "frequency_cap")
        return
    try:
        variables = {"code": code, "time": format_time(event.expires_at, clinic.zone)}
        text = render(TEMPLATE, practice_name(clinic.name, clinic.messaging.sender_name), variables).sms
    except TemplateError:
        await _record(conn, event, "skipped", "template_invalid")
        return
    outgoing = Outgoing(f"fd-booking-code-{event.verification_id}", "sms", phone, text)
    result = await sending.deliver(get_channel(), outgoing)
    if result.outcome == "transient":
        raise ProviderUnavailable(result.reason[:64])
    if result.outcome == "permanent":
        await _record(conn, event, "failed", "permanent_failure")
        return
    await _record(conn, event, "sent")
