"""reviews' rows as the use cases read them (review requests, feedback links, recovery tasks), and the
events built from them: each event with one constructor, whoever emits it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypedDict

from frontdesk.common.contracts import RatingScale, ReviewEscalated, ReviewSkipped, ReviewSkipReason
from frontdesk.common.contracts.messaging import SkipReason

from .feedback import RecoveryTask


class ReviewFact(TypedDict):
    """What every review event says about its request."""

    review_request_id: str
    visit_id: str
    patient_id: str
    clinic_id: str
    provider_id: str


class Reviewed(Protocol):
    """Anything that belongs to one review request (a request, its link, its recovery task)."""

    @property
    def review_request_id(self) -> str: ...
    @property
    def visit_id(self) -> str: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def clinic_id(self) -> str: ...
    @property
    def provider_id(self) -> str: ...


def fact(of: Reviewed) -> ReviewFact:
    return ReviewFact(
        review_request_id=of.review_request_id,
        visit_id=of.visit_id,
        patient_id=of.patient_id,
        clinic_id=of.clinic_id,
        provider_id=of.provider_id,
    )


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """A `review_requests` row: one per completed visit, from scheduled to sent or skipped."""

    review_request_id: str
    visit_id: str
    patient_id: str
    clinic_id: str
    provider_id: str
    visit_type: str | None
    completed_at: datetime | None
    send_at: datetime
    status: str  # scheduled, requested, sent, skipped
    skip_reason: str | None
    decided_by: str | None
    delivery_reason: str | None  # followup's reason, when followup skipped it
    message_request_id: str | None
    scale: str | None
    review_sites: tuple[str, ...]
    requested_at: datetime | None
    channel: str | None
    sent_at: datetime | None
    decided_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackLink:
    """A feedback link (`feedback_links`) with the request it answers."""

    token_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    review_request_id: str
    visit_id: str
    patient_id: str
    clinic_id: str
    provider_id: str
    scale: str | None  # the request's rating scale (None: stars)

    @property
    def rating_scale(self) -> RatingScale:
        """The scale the patient answers on (stars unless the request was made for NPS)."""
        return "nps" if self.scale == "nps" else "stars"


@dataclass(frozen=True, slots=True)
class ListedTask:
    """A `recovery_tasks` row as the clinic's list shows it."""

    recovery_task_id: str
    review_request_id: str
    clinic_id: str
    provider_id: str
    opened_at: datetime
    first_due_at: datetime  # the first deadline: "closed within the deadline" is measured against it
    due_at: datetime  # the current deadline
    level: int
    last_touched_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A `recovery_tasks` row with its request's visit and patient and the score that opened it."""

    recovery_task_id: str
    review_request_id: str
    clinic_id: str
    provider_id: str
    opened_at: datetime
    first_due_at: datetime
    due_at: datetime
    armed_at: datetime  # when the current deadline was set
    level: int
    last_touched_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    visit_id: str
    patient_id: str
    scale: RatingScale
    score: int

    def for_deadline(self) -> RecoveryTask:
        """What the deadline rule looks at (domain/feedback.py: on_deadline)."""
        closed = self.closed_at is not None
        return RecoveryTask(self.level, self.due_at, self.last_touched_at, self.armed_at, closed)


@dataclass(frozen=True, slots=True)
class Note:
    """A staff note on a recovery task (`recovery_notes`)."""

    author: str
    note: str
    closes: bool
    created_at: datetime


# --- the events ----------------------------------------------------------------------------------


def skipped(
    about: ReviewFact,
    reason: ReviewSkipReason,
    at: datetime,
    *,
    decided_by: Literal["reviews", "followup"] = "reviews",
    delivery_reason: SkipReason | None = None,
) -> ReviewSkipped:
    return ReviewSkipped(**about, reason=reason, decided_by=decided_by, delivery_reason=delivery_reason, skipped_at=at)


def escalated(
    about: ReviewFact, task_id: str, level: int, scale: RatingScale, score: int, due_at: datetime, at: datetime
) -> ReviewEscalated:
    return ReviewEscalated(
        **about, recovery_task_id=task_id, level=level, scale=scale, score=score, due_at=due_at, escalated_at=at
    )
