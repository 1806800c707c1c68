"""When and whether to ask a patient for feedback, and what the request says. Pure: no I/O.

No review gating: the request is built before any score exists and takes no score, so every
requested patient gets the same public review links, by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import MessageRequested, ReviewSkipReason, ReviewsSection
from frontdesk.common.contracts.messaging import Channel

DEFAULT_DELAY = timedelta(hours=2)
FREQUENCY_CAP = timedelta(days=90)  # at most one feedback request per patient per 90 days, all locations
TEMPLATE = "review-request"
REQUESTER = "reviews"
CHANNELS: tuple[Channel, ...] = ("sms", "email")
_MAX_ID = 128


def _derived_id(prefix: str, base: str) -> str:
    candidate = prefix + base
    if len(candidate) <= _MAX_ID:
        return candidate
    return prefix + "h-" + hashlib.sha256(base.encode()).hexdigest()[:40]


def review_request_id(visit_id: str) -> str:
    """One request per visit: the id is derived from the visit, so a repeat cannot make a second."""
    return _derived_id("rr-", visit_id)


def message_request_id(review_request_id: str) -> str:
    """The idempotency key of the message.requested for a review request (followup sends it at most once)."""
    return _derived_id("reviews:", review_request_id)


def send_time(completed_at: datetime, delay: timedelta = DEFAULT_DELAY) -> datetime:
    """The clinic's delay after the visit, before the quiet-hours shift."""
    # Elapsed time, so add in UTC (wall-clock arithmetic in a ZoneInfo zone is off across DST changes).
    return completed_at.astimezone(UTC) + delay


def shift_out_of_quiet_hours(
    instant: datetime, zone: ZoneInfo, opens: time = time(8, 0), closes: time = time(21, 0)
) -> datetime:
    """The first instant at or after `instant` whose local wall-clock time is within [opens, closes)."""
    local = instant.astimezone(zone)
    if opens <= local.time() < closes:
        return instant.astimezone(UTC)
    day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
    # fold=0: in a repeated hour the first occurrence; a wall time inside a DST gap normalizes (through
    # UTC) to the wall time after the gap, which is the first allowed minute.
    start = datetime.combine(day, opens, tzinfo=zone)
    return start.astimezone(UTC)


def scheduled_send_at(completed_at: datetime, section: ReviewsSection, zone: ZoneInfo) -> datetime:
    """The clinic's delay after the visit, shifted out of quiet hours in the clinic's zone."""
    candidate = send_time(completed_at, timedelta(minutes=section.delay_minutes))
    return shift_out_of_quiet_hours(candidate, zone, section.send_window_opens, section.send_window_closes)


# --- consent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preference:
    """One recorded feedback-purpose preference: channel None means every channel."""

    channel: Channel | None
    opted_in: bool
    changed_at: datetime


@dataclass(frozen=True)
class Consent:
    opted_out: bool  # every channel's latest word for feedback is "no"
    opted_in: bool  # some channel's latest word is an explicit "yes"


def consent_from(preferences: Iterable[Preference]) -> Consent:
    """Each channel's effective preference is the latest record for that channel or for all channels."""
    prefs = list(preferences)
    effective: dict[str, bool] = {}
    for channel in CHANNELS:
        relevant = [p for p in prefs if p.channel in (None, channel)]
        if relevant:
            latest = max(relevant, key=lambda p: (p.changed_at, p.channel is not None))
            effective[channel] = latest.opted_in
    opted_out = len(effective) == len(CHANNELS) and not any(effective.values())
    return Consent(opted_out=opted_out, opted_in=any(effective.values()))


# --- eligibility ------------------------------------------------------------------------------


def capped(send_at: datetime, others: Iterable[datetime], window: timedelta = FREQUENCY_CAP) -> bool:
    """True if another feedback request for the patient (any clinic) is within `window` of this one."""
    return any(abs(send_at - other) < window for other in others)


def skip_reason(
    *,
    visit_type: str,
    section: ReviewsSection,
    consent: Consent,
    send_at: datetime,
    other_requests: Sequence[datetime],
) -> ReviewSkipReason | None:
    """Why this visit gets no request (None: it gets one). Only these recorded reasons exist."""
    if visit_type in section.excluded_visit_types:
        return "visit_type_excluded"
    if consent.opted_out:
        return "opted_out"
    if section.feedback_consent == "explicit" and not consent.opted_in:
        return "no_consent"
    if capped(send_at, other_requests):
        return "frequency_cap"
    return None


# --- the request ------------------------------------------------------------------------------


def review_links(section: ReviewsSection) -> dict[str, str]:
    """site -> public review URL, exactly as configured: the same for every patient."""
    return {s.site: str(s.url) for s in section.review_sites}


def message_variables(feedback_link: str, section: ReviewsSection) -> dict[str, str]:
    """Template variables, non-personal values only: the signed private-rating link and the public
    review URLs (space-separated, in the configured order)."""
    return {"feedback_link": feedback_link, "review_links": " ".join(review_links(section).values())}


def build_message(
    *,
    review_request_id: str,
    patient_id: str,
    clinic_id: str,
    feedback_link: str,
    section: ReviewsSection,
    send_at: datetime,
) -> MessageRequested:
    return MessageRequested(
        message_request_id=message_request_id(review_request_id),
        requested_by=REQUESTER,
        patient_id=patient_id,
        clinic_id=clinic_id,
        purpose="feedback",
        template=TEMPLATE,
        variables=message_variables(feedback_link, section),
        not_before=send_at,
        expires_at=send_at + timedelta(hours=section.request_valid_hours),
    )
