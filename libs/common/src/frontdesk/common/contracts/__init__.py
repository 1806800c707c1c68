"""Event contracts: models, the type/topic registry, and the clinic configuration document."""

from .base import Event, Id, Timestamp
from .clinic import ClinicConfig, ClinicConfigured
from .events import (
    AppointmentBooked,
    AppointmentRejected,
    AppointmentRequested,
    CallReceived,
    CallRouted,
    FollowupScheduled,
    ReviewRequested,
    VisitCompleted,
)
from .registry import EVENTS, EventSpec, TopicSpec, all_topics, dlq_topic, spec_for

__all__ = [
    "EVENTS",
    "AppointmentBooked",
    "AppointmentRejected",
    "AppointmentRequested",
    "CallReceived",
    "CallRouted",
    "ClinicConfig",
    "ClinicConfigured",
    "Event",
    "EventSpec",
    "FollowupScheduled",
    "Id",
    "ReviewRequested",
    "Timestamp",
    "TopicSpec",
    "VisitCompleted",
    "all_topics",
    "dlq_topic",
    "spec_for",
]
