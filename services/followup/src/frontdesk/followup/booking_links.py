"""Booking links texted to callers: booking.link_requested -> one SMS with the clinic's booking link to the
number the answering service or the callback flow gave the scheduler's booking-links API.

The number arrives sealed for followup (as a booking code's does); it is opened here, put in the SMS and
forgotten: no row, log line or metric holds it (`booking_link_messages` keeps what became of the link
and a keyed digest of the number, for its caps). There is no patient behind it, so the contact rules
apply to the number (domain/policy.py, `decide_for_caller`): a number that opted out (STOP from any
patient with it) gets nothing; the caller's request is the consent for this one message; quiet hours
(the clinic's rule), the treatment caps over what this number was sent (its booking links and the
treatment messages of patients with this number) and the clinic's daily limit (messages, codes, links)
as for every message; a text that cannot go out before the link expires is skipped, never sent late.

A text that must wait (quiet hours, a cap, the clinic's limit) waits on a durable timer, as does the
next try after a transient provider failure (the same idempotency key: a provider that did take it
delivers once). The timer's payload is the sealed event: nothing readable rests in the database.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from frontdesk.common import patient_links
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import BookingLinkRequested, ClinicConfig
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.sealing import SealingError
from frontdesk.common.timer_payloads import BookingLinkSendTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import sending
from .adapters import booking_rows, repository
from .adapters.channels import Outgoing, get_channel
from .contacts import KEYRING, number_opted_out
from .domain import policy
from .domain.clinic_limit import DailyLimit, day_start
from .domain.templates import TemplateError, format_date, practice_name, render, shorten_links
from .telemetry import BOOKING_LINKS, MESSAGES, SKIPS

log = get_logger(__name__)
TEMPLATE = "booking-link"
MAX_TRANSIENT_FAILURES = 6


def number_digest(phone: str) -> str:
    """The number as the caps per number compare it (keyed: a number is quickly found from a plain hash)."""
    key = patient_links.current("followup").keys()[0]
    return hmac.new(key, f"booking-link-number\n{phone}".encode(), hashlib.sha256).hexdigest()


async def handle_link_requested(event: BookingLinkRequested, uow: UnitOfWork) -> None:
    await _attempt(uow, event, seq=0, failures=0)


async def on_timer(timer: Timer[BookingLinkSendTimer], uow: UnitOfWork) -> None:
    """A deferred text's time, or a transient failure's next try (the sealed event rests in the timer)."""
    await _attempt(uow, timer.payload.event, timer.payload.seq, timer.payload.failures)


async def _decide(
    uow: UnitOfWork,
    event: BookingLinkRequested,
    digest: str | None,
    status: str,
    reason: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    link, clinic_id = event.link_id, event.clinic_id
    if await booking_rows.record_link(uow.conn, link, clinic_id, digest, status, reason, provider_message_id):
        MESSAGES.labels(status).inc()
        BOOKING_LINKS.labels(reason or status).inc()
        if reason is not None:
            SKIPS.labels(reason).inc()


async def _attempt(uow: UnitOfWork, event: BookingLinkRequested, seq: int, failures: int) -> None:
    conn, now = uow.conn, sending.now_utc()
    if await booking_rows.link_decided(conn, event.link_id):
        return  # decided before (the same request again, or a stale timer)
    if event.expires_at <= now:
        return await _decide(uow, event, None, "skipped", "expired")
    clinic = await get_clinic(conn, event.clinic_id)
    if clinic is None:
        return await _decide(uow, event, None, "skipped", "unknown_clinic")
    try:
        phone = event.open(KEYRING)
    except (SealingError, ValueError):
        log.warning("a booking link's number that does not open", link_id=event.link_id)
        return await _decide(uow, event, None, "skipped", "unreadable")
    digest = number_digest(phone)
    decision = await _policy(conn, clinic, event, phone, digest, now)
    if decision.skip is not None:
        return await _decide(uow, event, digest, "skipped", decision.skip)
    assert decision.send_at is not None
    if decision.send_at > now:
        await _later(uow, event, seq, failures, decision.send_at)
        BOOKING_LINKS.labels("deferred").inc()
        return
    text = await _text(conn, clinic, event)
    if text is None:
        return await _decide(uow, event, digest, "skipped", "template_invalid")
    result = await sending.deliver(get_channel(), Outgoing(f"fd-booking-link-{event.link_id}", "sms", phone, text))
    if result.outcome == "transient":
        failures += 1
        retry_at = now + timedelta(seconds=min(2 ** (failures - 1), 300))
        if failures < MAX_TRANSIENT_FAILURES and retry_at < event.expires_at:
            await _later(uow, event, seq, failures, retry_at)
            BOOKING_LINKS.labels("retry").inc()
            return
        return await _decide(uow, event, digest, "failed", "provider_unavailable")
    if result.outcome == "permanent":
        return await _decide(uow, event, digest, "failed", "permanent_failure")
    await _decide(uow, event, digest, "sent", provider_message_id=result.provider_message_id)


async def _policy(
    conn: Connection, clinic: ClinicConfig, event: BookingLinkRequested, phone: str, digest: str, now: datetime
) -> policy.Decision:
    """The contact rules for this number now (its sends decided one at a time: two cannot both pass a cap)."""
    await booking_rows.lock_number(conn, digest)
    since = now - sending.CAP_LOOKBACK
    sent = await booking_rows.links_sent_to(conn, digest, since)
    for patient_id in await repository.patients_with_phone(conn, phone):
        sent += await repository.sent_times(conn, patient_id, "treatment", since)
    today = day_start(now, clinic.zone)
    sent_today = (
        await repository.clinic_sent_since(conn, clinic.clinic_id, today)
        + await booking_rows.codes_sent_since(conn, clinic.clinic_id, today)
        + await booking_rows.links_sent_since(conn, clinic.clinic_id, today)
    )
    return policy.decide_for_caller(
        now=now,
        number_opted_out=await number_opted_out(conn, phone),
        recipient=sending.recipient_for(clinic, None, reachable=True),
        sent_to_number=sent,
        expires_at=event.expires_at,
        clinic_limit=DailyLimit(clinic.messaging.daily_message_limit, sent_today, clinic.zone),
    )


async def _text(conn: Connection, clinic: ClinicConfig, event: BookingLinkRequested) -> str | None:
    """The SMS: the link signed as the scheduler signed it (the same URL), shortened; None if it cannot render."""
    links = patient_links.current("followup")
    url = links.url("booking", patient_links.sign("booking", event.link_id, event.expires_at, links.keys()[0]))
    try:
        variables, short = shorten_links({"booking_link": url}, clinic.messaging.short_link_base)
        variables["date"] = format_date(event.expires_at, clinic.zone)
        text = render(TEMPLATE, practice_name(clinic.name, clinic.messaging.sender_name), variables).sms
    except TemplateError:
        return None
    await repository.save_short_links(conn, short)
    return text


async def _later(uow: UnitOfWork, event: BookingLinkRequested, seq: int, failures: int, at: datetime) -> None:
    payload = BookingLinkSendTimer(event=event, seq=seq + 1, failures=failures)
    await uow.set_timer(f"booking-link:{event.link_id}:{seq + 1}", at, payload)


async def receipt(conn: Connection, provider_message_id: str, status: str) -> bool:
    """A delivery receipt for a booking link's text (False: not a link's). Recorded; nobody is told."""
    return await booking_rows.link_receipt(conn, provider_message_id, status)
