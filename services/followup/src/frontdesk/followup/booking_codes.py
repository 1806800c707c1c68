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

A transient provider failure is tried again on a durable timer (after RETRY_DELAYS), never past the
hold, with the same idempotency key (a provider that did take it delivers once).

A code that cannot be texted is reported to the page at once (booking.code_failed, no number): the
provider refused the number, kept failing, or later reported it undelivered (a delivery receipt), the
clinic's limit was reached, or the hold ran out. Not for a number that opted out: the page would then
tell anyone who types a number whether it is a patient's who said STOP; that person's code simply
does not come (the page says what to do when none does).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import BookingCodeFailed, BookingCodeRequested, ClinicConfig, CodeFailure
from frontdesk.common.logging import get_logger
from frontdesk.common.sealing import SealingError
from frontdesk.common.timer_payloads import BookingCodeRetryTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import sending
from .adapters import booking_rows, repository
from .adapters.channels import Outgoing, get_channel
from .contacts import KEYRING, number_opted_out
from .domain.clinic_limit import day_start
from .domain.templates import TemplateError, format_time, practice_name, render
from .telemetry import BOOKING_CODE_FAILURES, MESSAGES, SKIPS

log = get_logger(__name__)
TEMPLATE = "booking-code"
RETRY_DELAYS = (timedelta(seconds=5), timedelta(seconds=15), timedelta(seconds=30))
# What the page is told, by why a code was not texted; opted_out is never told (see above).
REPORTED: dict[str, CodeFailure] = {
    "permanent_failure": "undeliverable",
    "undelivered": "undeliverable",
    "provider_unavailable": "provider_unavailable",
    "frequency_cap": "clinic_limit",
    "expired": "expired",
    "unknown_clinic": "not_configured",
    "unreadable": "not_configured",
    "template_invalid": "not_configured",
}


async def _decide(
    uow: UnitOfWork,
    event: BookingCodeRequested,
    status: str,
    reason: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    if not await booking_rows.record_code(
        uow.conn, event.verification_id, event.clinic_id, status, reason, provider_message_id
    ):
        return  # decided before
    MESSAGES.labels("sent" if status == "sent" else status).inc()
    if reason is not None:
        SKIPS.labels(reason).inc()
        failure = REPORTED.get(reason)
        if failure is not None:
            await _report(uow, event.verification_id, event.clinic_id, failure, sending.now_utc())


async def _report(uow: UnitOfWork, verification_id: str, clinic_id: str, failure: CodeFailure, now: datetime) -> None:
    failed = BookingCodeFailed(verification_id=verification_id, clinic_id=clinic_id, reason=failure, failed_at=now)
    await uow.emit(failed)
    BOOKING_CODE_FAILURES.labels(failure).inc()


async def _over_daily_limit(uow: UnitOfWork, clinic: ClinicConfig, now: datetime) -> bool:
    since = day_start(now, clinic.zone)
    sent = await booking_rows.codes_sent_since(uow.conn, clinic.clinic_id, since)
    sent += await repository.clinic_sent_since(uow.conn, clinic.clinic_id, since)
    return sent >= clinic.messaging.daily_message_limit


async def handle_code_requested(event: BookingCodeRequested, uow: UnitOfWork) -> None:
    await _attempt(uow, event, 0)


async def on_retry(timer: Timer[BookingCodeRetryTimer], uow: UnitOfWork) -> None:
    """A transient failure's next try (the sealed event rests in the timer: nothing here is readable)."""
    await _attempt(uow, timer.payload.event, timer.payload.attempt)


async def _attempt(uow: UnitOfWork, event: BookingCodeRequested, attempt: int) -> None:
    conn, now = uow.conn, sending.now_utc()
    if await booking_rows.code_decided(conn, event.verification_id):
        return  # decided before (the same attempt again)
    if event.expires_at <= now:
        return await _decide(uow, event, "skipped", "expired")
    clinic = await get_clinic(conn, event.clinic_id)
    if clinic is None:
        return await _decide(uow, event, "skipped", "unknown_clinic")
    try:
        phone, code = event.open(KEYRING)
    except (SealingError, ValueError):
        log.warning("a booking code that does not open", verification_id=event.verification_id)
        return await _decide(uow, event, "skipped", "unreadable")
    if await number_opted_out(conn, phone):
        return await _decide(uow, event, "skipped", "opted_out")
    if await _over_daily_limit(uow, clinic, now):
        return await _decide(uow, event, "skipped", "frequency_cap")
    try:
        variables = {"code": code, "time": format_time(event.expires_at, clinic.zone)}
        text = render(TEMPLATE, practice_name(clinic.name, clinic.messaging.sender_name), variables).sms
    except TemplateError:
        return await _decide(uow, event, "skipped", "template_invalid")
    outgoing = Outgoing(f"fd-booking-code-{event.verification_id}", "sms", phone, text)
    result = await sending.deliver(get_channel(), outgoing)
    if result.outcome == "transient":
        return await _retry(uow, event, attempt, now)
    if result.outcome == "permanent":
        return await _decide(uow, event, "failed", "permanent_failure")
    await _decide(uow, event, "sent", provider_message_id=result.provider_message_id)


async def _retry(uow: UnitOfWork, event: BookingCodeRequested, attempt: int, now: datetime) -> None:
    """Try again later if a try still fits before the hold ends; else the page is told."""
    if attempt < len(RETRY_DELAYS) and now + RETRY_DELAYS[attempt] < event.expires_at:
        key = f"booking-code:{event.verification_id}:{attempt + 1}"
        await uow.set_timer(key, now + RETRY_DELAYS[attempt], BookingCodeRetryTimer(event=event, attempt=attempt + 1))
        MESSAGES.labels("retry").inc()
        return
    await _decide(uow, event, "failed", "provider_unavailable")


async def receipt(uow: UnitOfWork, provider_message_id: str, status: str, now: datetime) -> bool:
    """A delivery receipt for a code's SMS (False: not a code's). Undelivered: the page is told."""
    if status != "delivered":
        failed = await booking_rows.fail_sent_code(uow.conn, provider_message_id, "undelivered")
        if failed is not None:
            MESSAGES.labels("failed").inc()
            SKIPS.labels("undelivered").inc()
            await _report(uow, failed.verification_id, failed.clinic_id, REPORTED["undelivered"], now)
            return True
    return await booking_rows.is_code_message(uow.conn, provider_message_id)
