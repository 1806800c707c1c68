"""Reviews: feedback and review requests after visits."""

from __future__ import annotations

from typing import ClassVar

from .base import Event, Id, Section, Timestamp


class ReviewsSection(Section):
    """What the reviews service needs: public review links, delay, exclusions (grown by its issue)."""


class ReviewRequested(Event):
    event_type: ClassVar[str] = "review.requested"
    key_field: ClassVar[str] = "patient_id"

    review_request_id: Id
    visit_id: Id
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    send_at: Timestamp


EVENTS: tuple[type[Event], ...] = (ReviewRequested,)
__all__ = ["ReviewRequested", "ReviewsSection"]
