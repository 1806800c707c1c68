"""Event and timer handlers: thin glue between events, the domain and the database.

visit.completed -> (eligible) review.scheduled + a durable send timer | (not) review.skipped
send timer      -> (still eligible) message.requested to followup    | (not) review.skipped
message.sent    -> review.requested;   message.skipped -> review.skipped (followup's reason kept)
So every completed visit ends in exactly one review.requested or review.skipped.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from frontdesk.common import patient_links
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import (
    ContactPreferenceChanged,
    MessageSent,
    MessageSkipped,
    ReviewRequested,
    ReviewScheduled,
    ReviewSkipReason,
    VisitCompleted,
)
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import ReviewSendTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import domain, telemetry
from .adapters import repository
from .domain.records import ReviewFact, ReviewRequest, fact, skipped
from .settings import current as settings

log = get_logger(__name__)

# Pending and delivered requests count for the cap when a visit arrives; at send time only those that
# really went to followup do (so that of two planned requests, the first to go wins).
CAP_AT_VISIT = ("scheduled", "requested", "sent")
CAP_AT_SEND = ("requested", "sent")
# followup's reasons that are also ours keep their name; the others are "not_delivered".
_SAME_REASON: dict[str, ReviewSkipReason] = {
    "no_consent": "no_consent",
    "opted_out": "opted_out",
    "frequency_cap": "frequency_cap",
}


def now() -> datetime:
    return datetime.now(UTC)


def _visit_fact(request_id: str, visit: VisitCompleted) -> ReviewFact:
    return ReviewFact(
        review_request_id=request_id,
        visit_id=visit.visit_id,
        patient_id=visit.patient_id,
        clinic_id=visit.clinic_id,
        provider_id=visit.provider_id,
    )


def send_timer_key(request_id: str, due_at: datetime) -> str:
    # A new key per due time: a timer handler cannot move its own timer (it is deleted when it returns).
    return f"review-send:{request_id}:{int(due_at.timestamp())}"


async def _skip(uow: UnitOfWork, row: ReviewRequest, reason: ReviewSkipReason, at: datetime) -> None:
    await repository.mark_skipped(uow.conn, row.review_request_id, reason, "reviews", at)
    await uow.emit(skipped(fact(row), reason, at))
    telemetry.REQUESTS.labels(row.clinic_id, row.provider_id, "skipped", reason).inc()


async def handle_visit_completed(event: VisitCompleted, uow: UnitOfWork) -> None:
    request_id = domain.review_request_id(event.visit_id)
    await repository.lock_patient(uow.conn, event.patient_id)
    if await repository.visit_known(uow.conn, event.visit_id):
        return  # this visit already has its request (or its recorded skip)
    clinic = await get_clinic(uow.conn, event.clinic_id)
    at = now()
    if clinic is None:
        # Not configured yet (clinic.configured may arrive after the visit): decide at send time.
        send_at = domain.send_time(event.completed_at)
        reason: ReviewSkipReason | None = None
    else:
        # The send window is the patient's day where the visit took place (the provider's location).
        send_at = domain.scheduled_send_at(event.completed_at, clinic.reviews, clinic.zone_of(event.provider_id))
        reason = domain.skip_reason(
            visit_type=event.visit_type,
            section=clinic.reviews,
            consent=domain.consent_from(await repository.preferences(uow.conn, event.patient_id)),
            send_at=send_at,
            other_requests=await repository.other_request_times(uow.conn, event.patient_id, request_id, CAP_AT_VISIT),
        )
    if reason is not None:
        await repository.record_request(
            uow.conn, request_id, event, send_at, status="skipped", skip_reason=reason, decided_at=at
        )
        await uow.emit(skipped(_visit_fact(request_id, event), reason, at))
        telemetry.REQUESTS.labels(event.clinic_id, event.provider_id, "skipped", reason).inc()
        return
    await repository.record_request(uow.conn, request_id, event, send_at)
    await uow.set_timer(send_timer_key(request_id, send_at), send_at, ReviewSendTimer(review_request_id=request_id))
    await uow.emit(ReviewScheduled(**_visit_fact(request_id, event), send_at=send_at))
    telemetry.REQUESTS.labels(event.clinic_id, event.provider_id, "scheduled", "").inc()


async def on_send_due(timer: Timer[ReviewSendTimer], uow: UnitOfWork) -> None:
    """The delay is over: check again (consent may have changed) and ask followup to deliver."""
    request_id = timer.payload.review_request_id
    row = await repository.get_request(uow.conn, request_id)
    if row is None or row.status != "scheduled":
        return
    await repository.lock_patient(uow.conn, row.patient_id)
    row = await repository.get_request(uow.conn, request_id, lock=True)
    if row is None or row.status != "scheduled":
        return
    at = now()
    clinic = await get_clinic(uow.conn, row.clinic_id)
    if clinic is None:
        await _skip(uow, row, "unknown_clinic", at)
        return
    section = clinic.reviews
    zone = clinic.zone_of(row.provider_id)
    allowed = domain.shift_out_of_quiet_hours(at, zone, section.send_window_opens, section.send_window_closes)
    if allowed > at + timedelta(minutes=1):  # fired late into quiet hours, or the window changed
        await uow.set_timer(send_timer_key(request_id, allowed), allowed, timer.payload)
        return
    reason = domain.skip_reason(
        visit_type=row.visit_type or "general",
        section=section,
        consent=domain.consent_from(await repository.preferences(uow.conn, row.patient_id)),
        send_at=at,
        other_requests=await repository.other_request_times(uow.conn, row.patient_id, request_id, CAP_AT_SEND),
    )
    if reason is not None:
        await _skip(uow, row, reason, at)
        return
    cfg = settings()
    token_id = secrets.token_urlsafe(16)  # 128 random bits, 22 characters
    expires_at = at + timedelta(hours=cfg.link_ttl_hours)
    token = patient_links.sign("feedback", token_id, expires_at, cfg.keys()[0])
    await repository.add_link(uow.conn, token_id, request_id, expires_at)
    message = domain.build_message(
        review_request_id=request_id,
        patient_id=row.patient_id,
        clinic_id=row.clinic_id,
        feedback_link=f"{cfg.public_base_url.rstrip('/')}/v1/feedback/{token}",
        section=section,
        send_at=max(row.send_at, at),
    )
    sites = list(domain.review_links(section))
    await repository.mark_requested(uow.conn, request_id, message.message_request_id, section.rating_scale, sites, at)
    await uow.emit(message)


async def handle_message_sent(event: MessageSent, uow: UnitOfWork) -> None:
    if event.requested_by != domain.requests.REQUESTER:
        return
    row = await repository.by_message_request(uow.conn, event.message_request_id)
    if row is None or row.status != "requested":
        log.info("message answer ignored", message_request_id=event.message_request_id, known=row is not None)
        return  # not ours, or already answered: the first answer stands
    await repository.mark_sent(uow.conn, row.review_request_id, event.channel, event.sent_at)
    await uow.emit(
        ReviewRequested(
            **fact(row),
            send_at=row.send_at,
            message_request_id=event.message_request_id,
            channel=event.channel,
            sent_at=event.sent_at,
            review_sites=list(row.review_sites),
        )
    )
    telemetry.REQUESTS.labels(row.clinic_id, row.provider_id, "requested", "").inc()


async def handle_message_skipped(event: MessageSkipped, uow: UnitOfWork) -> None:
    if event.requested_by != domain.requests.REQUESTER:
        return
    row = await repository.by_message_request(uow.conn, event.message_request_id)
    if row is None or row.status != "requested":
        log.info("message answer ignored", message_request_id=event.message_request_id, known=row is not None)
        return
    at = now()
    reason = _SAME_REASON.get(event.reason, "not_delivered")
    await repository.mark_skipped(uow.conn, row.review_request_id, reason, "followup", at, event.reason)
    await uow.emit(skipped(fact(row), reason, at, decided_by="followup", delivery_reason=event.reason))
    telemetry.REQUESTS.labels(row.clinic_id, row.provider_id, "skipped", reason).inc()


async def handle_preference_changed(event: ContactPreferenceChanged, uow: UnitOfWork) -> None:
    if event.purpose != "feedback":
        return
    await repository.save_preference(uow.conn, event.patient_id, event.channel or "*", event.opted_in, event.changed_at)
