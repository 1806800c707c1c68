"""Follow-up: planned reminders, check-ins, recalls and callbacks."""

from __future__ import annotations

from typing import ClassVar, Literal

from .base import Event, Id, Section, Timestamp


class MessagingSection(Section):
    """What followup needs to contact a clinic's patients (grown by the followup issue)."""


class FollowupScheduled(Event):
    event_type: ClassVar[str] = "followup.scheduled"
    key_field: ClassVar[str] = "patient_id"

    followup_id: Id
    patient_id: Id
    clinic_id: Id
    kind: Literal["reminder", "check_in", "recall", "no_show", "callback"]
    due_at: Timestamp
    visit_id: Id | None = None


EVENTS: tuple[type[Event], ...] = (FollowupScheduled,)
__all__ = ["FollowupScheduled", "MessagingSection"]
