"""Sending: every message (another service's message.requested or one of followup's own plans) goes
through here: the contact policy decides, the channel delivers, the result is recorded and announced.

At most once: the `messages` row is the outbox of sends and carries a stable idempotency key that
goes to the provider. A send runs in a durable timer's transaction; if the process dies after the
provider accepted the message but before the transaction commits, the timer fires again after the
restart and the provider (seeing the same key) does not deliver a second time. No loss: the timer
is only deleted in the transaction that records the outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import SendMessageTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from .adapters import appointment_rows, message_rows, policy_inputs, repository
from .adapters.channels import Channel, DeliveryResult, Outgoing, get_channel
from .adapters.message_rows import Message
from .adapters.policy_inputs import Contact, PolicyInputs
from .domain import policy
from .domain.clinic_limit import DailyLimit, day_start
from .domain.quiet_hours import QuietRule, rule_for
from .domain.templates import TEMPLATES, Rendered, TemplateError, practice_name, render, shorten_links
from .telemetry import MESSAGES, SKIPS

log = get_logger(__name__)
SELF = "followup"
MAX_TRANSIENT_ATTEMPTS = 6
CAP_LOOKBACK = timedelta(days=8)


def now_utc() -> datetime:
    return datetime.now(UTC)


async def request(
    uow: UnitOfWork,
    *,
    message_request_id: str,
    requested_by: str,
    patient_id: str,
    clinic_id: str,
    purpose: str,
    template: str,
    variables: dict[str, str] | None = None,
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    followup_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Accept a message for sending (idempotent by message_request_id). Every decision is taken when
    its timer fires, so consent or contact details registered in the meantime count."""
    inserted = await repository.insert_message(
        uow.conn,
        message_request_id=message_request_id,
        requested_by=requested_by,
        patient_id=patient_id,
        clinic_id=clinic_id,
        purpose=purpose,
        template=template,
        variables=variables or {},
        not_before=not_before,
        expires_at=expires_at,
        followup_id=followup_id,
    )
    if inserted:
        current = now or now_utc()
        await _arm(uow, message_request_id, 0, max(current, not_before or current))
    return inserted


async def _arm(uow: UnitOfWork, message_request_id: str, seq: int, at: datetime) -> None:
    key = f"send:{message_request_id}:{seq}"
    await uow.set_timer(key, at, SendMessageTimer(message_request_id=message_request_id))
    await repository.set_message_timer(uow.conn, message_request_id, key, at)


async def on_send_timer(timer: Timer[SendMessageTimer], uow: UnitOfWork) -> None:
    await process(uow, timer.payload.message_request_id)


async def cancel(uow: UnitOfWork, message_request_id: str, reason: str, now: datetime | None = None) -> bool:
    """Withdraw a pending message (its plan was cancelled); True if it was still pending."""
    msg = await message_rows.lock_message(uow.conn, message_request_id)
    if msg is None or msg.status != "pending":
        return False
    if msg.timer_key:
        await uow.cancel_timer(msg.timer_key)
    await repository.finish_message(
        uow.conn, message_request_id, "cancelled", at=now or now_utc(), reason="cancelled", detail=reason
    )
    if msg.requested_by != SELF:
        await uow.emit(msg.skipped("cancelled", reason))
    MESSAGES.labels("cancelled").inc()
    return True


def recipient_rule(clinic: ClinicConfig, state: str | None) -> QuietRule:
    section = clinic.messaging
    extra = []
    if section.quiet_hours_start or section.quiet_hours_end:
        start, end = section.quiet_hours_start or time(0), section.quiet_hours_end or time(23, 59, 59)
        extra.append(QuietRule.uniform(start, end))
    return rule_for(state or section.state, extra)


def recipient_for(clinic: ClinicConfig, contact: Contact | None, reachable: bool) -> policy.Recipient:
    """Quiet hours in the patient's own zone if it is on file, else in every zone the clinic keeps a day
    in (a patient of its location in another zone lives by that one's clock)."""
    zones = (ZoneInfo(contact.timezone),) if contact and contact.timezone else clinic.zones()
    rule = recipient_rule(clinic, contact.state if contact else None)
    return policy.Recipient(reachable=reachable, zone=zones[0], rule=rule, other_zones=zones[1:])


async def process(uow: UnitOfWork, message_request_id: str, *, now: datetime | None = None) -> None:
    """Decide and, when it is time, send one pending message: its plan still wanted, its text rendered,
    the contact policy asked, the channel called, the outcome recorded."""
    conn = uow.conn
    msg = await message_rows.lock_message(conn, message_request_id)
    if msg is None or msg.status != "pending":
        return  # already decided (a stale timer, or a redelivery)
    now = now or now_utc()
    # One patient's sends are decided one at a time, so two messages cannot both pass the cap.
    await repository.lock_patient(conn, msg.patient_id)
    clinic = await get_clinic(conn, msg.clinic_id)
    if clinic is None:
        await _skip(uow, msg, "unknown_clinic", "clinic not configured", now)
        return
    if msg.followup_id:
        cancel_reason = await plan_no_longer_wanted(conn, msg.followup_id, now)
        if cancel_reason:
            await _cancel_plan(uow, msg, msg.followup_id, cancel_reason, now)
            return
    rendered = await _render(uow, msg, clinic, now)
    if rendered is None:
        return
    inputs = await policy_inputs.read(
        conn, msg.patient_id, msg.purpose, now - CAP_LOOKBACK, clinic.clinic_id, day_start(now, clinic.zone)
    )
    address, channel_name = _address(inputs.contact)
    decision = _decide(msg, clinic, inputs, address is not None, now)
    if decision.skip is not None:
        await _skip(uow, msg, decision.skip, decision.detail, now)
        return
    assert decision.send_at is not None
    if decision.send_at > now:
        await _arm(uow, message_request_id, msg.timer_seq, decision.send_at)
        MESSAGES.labels("deferred").inc()
        return
    assert address is not None and channel_name is not None
    outgoing = Outgoing(
        idempotency_key=msg.idempotency_key,
        channel=channel_name,  # type: ignore[arg-type]
        address=address,
        body=rendered.sms,
        subject=rendered.email_subject if channel_name == "email" else None,
    )
    await _record(uow, msg, channel_name, await deliver(get_channel(), outgoing), now)


async def _render(uow: UnitOfWork, msg: Message, clinic: ClinicConfig, now: datetime) -> Rendered | None:
    """The message's text (its links shortened and stored); None: skipped, the template cannot render."""
    try:
        variables, links = shorten_links(msg.variables, clinic.messaging.short_link_base)
        rendered = render(
            msg.template,
            practice_name(clinic.name, clinic.messaging.sender_name),
            variables,
            purpose=msg.purpose,
        )
        await repository.save_short_links(uow.conn, links)
    except TemplateError as exc:
        reason = "template_unknown" if msg.template not in TEMPLATES else "template_invalid"
        await _skip(uow, msg, reason, str(exc)[:300], now)
        return None
    return rendered


def _decide(
    msg: Message, clinic: ClinicConfig, inputs: PolicyInputs, reachable: bool, now: datetime
) -> policy.Decision:
    """The contact policy's answer for this message now: skip, wait until, or send."""
    return policy.decide(
        now=now,
        purpose=msg.purpose,
        ledger=inputs.ledger,
        recipient=recipient_for(clinic, inputs.contact, reachable),
        sent_same_purpose=inputs.sent_same_purpose,
        not_before=msg.not_before,
        expires_at=msg.expires_at,
        clinic_limit=DailyLimit(
            limit=clinic.messaging.daily_message_limit, sent_today=inputs.clinic_sent_today, zone=clinic.zone
        ),
    )


async def _record(uow: UnitOfWork, msg: Message, channel_name: str, result: DeliveryResult, now: datetime) -> None:
    """What the channel said: sent, retried later (transient, with backoff), or failed."""
    message_request_id = msg.message_request_id
    if result.outcome == "delivered":
        await repository.finish_message(
            uow.conn,
            message_request_id,
            "sent",
            at=now,
            channel=channel_name,
            provider_message_id=result.provider_message_id,
        )
        await _emit_sent(uow, msg, channel_name, now)
        MESSAGES.labels("sent").inc()
        return
    if result.outcome == "transient":
        attempts = await repository.count_attempt(uow.conn, message_request_id, result.reason)
        if attempts < MAX_TRANSIENT_ATTEMPTS:
            delay = timedelta(seconds=min(2 ** (attempts - 1), 300))
            await _arm(uow, message_request_id, msg.timer_seq, now + delay)
            MESSAGES.labels("retry").inc()
            return
        await _fail(uow, msg, f"gave up after {attempts} transient failures: {result.reason}", now)
        return
    await _fail(uow, msg, result.reason or "rejected by the provider", now)


async def deliver(channel: Channel, outgoing: Outgoing) -> DeliveryResult:
    try:
        return await channel.send(outgoing)
    except Exception as exc:  # noqa: BLE001 - an unexpected channel error is a transient failure
        return DeliveryResult("transient", reason=type(exc).__name__[:64])


def _address(contact: Contact | None) -> tuple[str | None, str | None]:
    if contact is None:
        return None, None
    order = ("sms", "email") if contact.preferred_channel == "sms" else ("email", "sms")
    for channel in order:
        value = contact.phone if channel == "sms" else contact.email
        if value:
            return value, channel
    return None, None


async def plan_no_longer_wanted(conn: Connection, followup_id: str, now: datetime) -> str | None:
    """Why a planned message must not go out any more (None: it still should)."""
    plan = await message_rows.get_plan(conn, followup_id)
    if plan is None:
        return None
    if plan.status != "scheduled":
        return "superseded"
    if plan.kind == "recall" and await appointment_rows.has_future(conn, plan.patient_id, now):
        return "appointment_booked"
    if plan.kind == "reminder" and plan.appointment_id:
        appointment = await appointment_rows.get(conn, plan.appointment_id)
        if appointment is not None and appointment.status == "cancelled":
            return "appointment_cancelled"
    return None


async def _skip(uow: UnitOfWork, msg: Message, reason: str, detail: str, now: datetime) -> None:
    await repository.finish_message(uow.conn, msg.message_request_id, "skipped", at=now, reason=reason, detail=detail)
    MESSAGES.labels("skipped").inc()
    SKIPS.labels(reason).inc()
    await _announce_not_sent(uow, msg, reason, detail, now)


async def _fail(uow: UnitOfWork, msg: Message, detail: str, now: datetime) -> None:
    await repository.finish_message(
        uow.conn, msg.message_request_id, "failed", at=now, reason="permanent_failure", detail=detail[:300]
    )
    MESSAGES.labels("failed").inc()
    SKIPS.labels("permanent_failure").inc()
    await _announce_not_sent(uow, msg, "permanent_failure", detail, now)


async def _announce_not_sent(uow: UnitOfWork, msg: Message, reason: str, detail: str, now: datetime) -> None:
    """message.skipped to the service that asked; a plan of ours fails (followup.failed)."""
    if msg.requested_by != SELF:
        await uow.emit(msg.skipped(reason, detail))
    plan = await message_rows.get_plan(uow.conn, msg.followup_id) if msg.followup_id else None
    if plan is not None:
        await repository.set_followup_status(uow.conn, plan.followup_id, "failed", reason)
        await uow.emit(plan.failed(msg.message_request_id, reason, now))


async def _cancel_plan(uow: UnitOfWork, msg: Message, followup_id: str, reason: str, now: datetime) -> None:
    await repository.finish_message(
        uow.conn, msg.message_request_id, "cancelled", at=now, reason="cancelled", detail=reason
    )
    MESSAGES.labels("cancelled").inc()
    await cancel_plan(uow, followup_id, reason, now)


async def cancel_plan(uow: UnitOfWork, followup_id: str, reason: str, now: datetime) -> None:
    """Mark a plan cancelled (and withdraw its pending message); emits followup.cancelled once."""
    plan = await message_rows.get_plan(uow.conn, followup_id)
    if plan is None or plan.status != "scheduled":
        return
    await repository.set_followup_status(uow.conn, followup_id, "cancelled", reason)
    await cancel(uow, followup_id, reason, now)
    await uow.emit(plan.cancelled(reason, now))


async def _emit_sent(uow: UnitOfWork, msg: Message, channel: str, now: datetime) -> None:
    if msg.requested_by != SELF:
        await uow.emit(msg.sent(channel, now))
    plan = await message_rows.get_plan(uow.conn, msg.followup_id) if msg.followup_id else None
    if plan is not None:
        await repository.set_followup_status(uow.conn, plan.followup_id, "sent")
        await uow.emit(plan.sent(msg.message_request_id, channel, now))
