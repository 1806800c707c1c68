"""Reviews: feedback and review requests after visits, service recovery, reputation.

No review gating (Google Business Profile policy, FTC 16 CFR 465): every requested patient gets the
same public review links whatever their private score. For every completed visit exactly one
`review.requested` or `review.skipped` (with its reason) is emitted, so the absence of gating can be
proven. Payloads carry ids, scores and counts only: never names, comments or visit reasons.
"""

from __future__ import annotations

from datetime import time
from typing import ClassVar, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from .base import Event, Id, Section, Timestamp
from .messaging import Channel, SkipReason

RatingScale = Literal["stars", "nps"]
# Why no request went out for a visit. The first four are reviews' own decision; the others
# come from followup's message.skipped (delivery_reason keeps followup's exact reason).
ReviewSkipReason = Literal[
    "no_consent",
    "opted_out",
    "frequency_cap",
    "visit_type_excluded",
    "unknown_clinic",
    "not_delivered",
]


class ReviewSite(Section):
    """One public review site of a clinic (Google, Healthgrades, ...): the same for every patient."""

    site: Id = Field(description="e.g. google, healthgrades, yelp")
    url: AnyHttpUrl


class ReviewsSection(Section):
    """What the reviews service needs: public review links, delay, exclusions, scale, recovery SLA."""

    review_sites: list[ReviewSite] = Field(default_factory=list)
    delay_minutes: int = Field(120, ge=0, le=7 * 24 * 60, description="After the visit, before asking.")
    # Allowed sending window, local clinic time; federal quiet hours allow 08:00-21:00, a clinic may
    # only make it stricter (some states: 20:00; CT 09:00-20:00).
    send_window_opens: time = time(8, 0)
    send_window_closes: time = time(21, 0)
    rating_scale: RatingScale = "stars"
    excluded_visit_types: list[Id] = Field(default_factory=list)
    # "implied": feedback may be asked unless the patient opted out; "explicit": only after an opt-in.
    feedback_consent: Literal["implied", "explicit"] = "implied"
    request_valid_hours: int = Field(72, ge=1, le=14 * 24, description="followup skips it (expired) after this.")
    recovery_deadline_hours: int = Field(24, ge=1, le=7 * 24)

    @model_validator(mode="after")
    def _window_within_federal_hours(self) -> ReviewsSection:
        if not (time(8, 0) <= self.send_window_opens < self.send_window_closes <= time(21, 0)):
            raise ValueError("the send window must lie within 08:00-21:00 local time, opens before closes")
        return self


class _ReviewFact(Event):
    key_field: ClassVar[str] = "patient_id"

    review_request_id: Id
    visit_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id


class ReviewScheduled(_ReviewFact):
    """A completed visit is eligible: its feedback-and-review request will be asked for at send_at."""

    event_type: ClassVar[str] = "review.scheduled"

    send_at: Timestamp


class ReviewRequested(_ReviewFact):
    """followup delivered the request (message.sent): private rating link plus the public review links."""

    event_type: ClassVar[str] = "review.requested"

    send_at: Timestamp
    message_request_id: Id | None = None
    channel: Channel | None = None
    sent_at: Timestamp | None = None
    review_sites: list[Id] = Field(default_factory=list, description="Public sites linked: same for every patient.")


class ReviewSkipped(_ReviewFact):
    """No request went out for this visit, and why."""

    event_type: ClassVar[str] = "review.skipped"

    reason: ReviewSkipReason
    decided_by: Literal["reviews", "followup"] = "reviews"
    delivery_reason: SkipReason | None = None
    skipped_at: Timestamp


class ReviewReceived(_ReviewFact):
    """The patient answered the private rating. The comment stays in reviews' database."""

    event_type: ClassVar[str] = "review.received"

    scale: RatingScale
    score: int = Field(ge=0, le=10)
    has_comment: bool = False
    received_at: Timestamp

    @model_validator(mode="after")
    def _score_on_scale(self) -> ReviewReceived:
        if self.scale == "stars" and not 1 <= self.score <= 5:
            raise ValueError("a star rating is 1-5")
        return self


class ReviewEscalated(_ReviewFact):
    """A low score opened (level 1) or re-escalated (level 2+) a service-recovery task."""

    event_type: ClassVar[str] = "review.escalated"

    recovery_task_id: Id
    level: int = Field(ge=1)
    scale: RatingScale
    score: int = Field(ge=0, le=10)
    due_at: Timestamp
    escalated_at: Timestamp


class RecoveryClosed(Event):
    """Staff closed a service-recovery task (their notes stay in reviews' database)."""

    event_type: ClassVar[str] = "review.recovery_closed"
    key_field: ClassVar[str] = "clinic_id"

    recovery_task_id: Id
    review_request_id: Id
    clinic_id: Id
    provider_id: Id
    closed_at: Timestamp
    within_deadline: bool


class ReputationFigures(Section):
    requests_sent: int = Field(ge=0)
    responses: int = Field(ge=0)
    response_rate: float | None = Field(None, ge=0, le=1)
    average_rating: float | None = Field(None, ge=1, le=5)
    nps: float | None = Field(None, ge=-100, le=100)
    escalations: int = Field(ge=0)
    closed_within_deadline_share: float | None = Field(None, ge=0, le=1)


class ProviderReputation(ReputationFigures):
    provider_id: Id


class ReputationSummary(Event):
    """One clinic's reputation for one ISO week of its local calendar, overall and per provider."""

    event_type: ClassVar[str] = "reputation.summary"
    key_field: ClassVar[str] = "clinic_id"

    clinic_id: Id
    week: str = Field(pattern=r"^\d{4}-W\d{2}$")
    clinic: ReputationFigures
    providers: list[ProviderReputation] = Field(default_factory=list)
    computed_at: Timestamp


EVENTS: tuple[type[Event], ...] = (
    ReviewScheduled,
    ReviewRequested,
    ReviewSkipped,
    ReviewReceived,
    ReviewEscalated,
    RecoveryClosed,
    ReputationSummary,
)
__all__ = [
    "ProviderReputation",
    "RatingScale",
    "RecoveryClosed",
    "ReputationFigures",
    "ReputationSummary",
    "ReviewEscalated",
    "ReviewReceived",
    "ReviewRequested",
    "ReviewScheduled",
    "ReviewSite",
    "ReviewSkipReason",
    "ReviewSkipped",
    "ReviewsSection",
]
