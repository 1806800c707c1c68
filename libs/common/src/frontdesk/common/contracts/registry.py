"""The one registry of event types and topics: event type -> model, topic, key, partitions.

Topic name = event type. Every topic has a dead-letter twin `<topic>.dlq`. The local stack, the
tests and (later) the Kubernetes KafkaTopic resources are all generated from this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import calls, followup, messaging, reviews, scheduling
from .base import Event
from .clinic import ClinicConfigured

DLQ_SUFFIX = ".dlq"
_WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    retention_ms: int = _WEEK_MS
    compacted: bool = False
    max_message_bytes: int = 1024 * 1024

    def config(self) -> dict[str, str]:
        return {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": "-1" if self.compacted else str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
        }


@dataclass(frozen=True)
class EventSpec:
    model: type[Event]
    topic: TopicSpec

    @property
    def event_type(self) -> str:
        return self.model.event_type


# Every event type, by domain module. A new event type is added to its module's EVENTS tuple.
ALL_EVENT_MODELS: tuple[type[Event], ...] = (
    ClinicConfigured,
    *calls.EVENTS,
    *scheduling.EVENTS,
    *followup.EVENTS,
    *messaging.EVENTS,
    *reviews.EVENTS,
)

EVENTS: dict[str, EventSpec] = {
    model.event_type: EventSpec(
        model, TopicSpec(model.event_type, partitions=model.partitions, compacted=model.compacted)
    )
    for model in ALL_EVENT_MODELS
}


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def all_topics() -> list[TopicSpec]:
    """Every topic the system uses, dead-letter topics included."""
    topics: list[TopicSpec] = []
    for spec in EVENTS.values():
        topics.append(spec.topic)
        # A dead letter carries the original record plus headers, so it may be a little larger;
        # it keeps a month so an operator has time to look and replay.
        topics.append(
            TopicSpec(
                dlq_topic(spec.topic.name),
                partitions=3,
                retention_ms=4 * _WEEK_MS,
                max_message_bytes=2 * spec.topic.max_message_bytes,
            )
        )
    return topics


def spec_for(event_type: str) -> EventSpec | None:
    return EVENTS.get(event_type)


def topic_accepts(event_type: str, topic: str) -> bool:
    """Whether `event_type` may travel on `topic`: its registry topic, or a per-vendor topic its
    domain module allows (contracts/calls.py TOPIC_PATTERNS, e.g. call.overflowed on
    vendor.<id>.calls)."""
    spec = EVENTS.get(event_type)
    if spec is not None and spec.topic.name == topic:
        return True
    return any(re.match(pattern, topic) for pattern in calls.TOPIC_PATTERNS.get(event_type, ()))
