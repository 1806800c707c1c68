"""The one registry of event types and topics: event type -> model, topic, key, partitions.

Topic name = event type. Every topic has a dead-letter twin `<topic>.dlq`. The local stack, the
tests and the Kubernetes KafkaTopic resources are all generated from this table. Some types also
(or only) travel on per-vendor topics named at run time (`vendor_topics`, contracts/phone.py
TOPIC_PATTERNS): those are created when a clinic names the vendor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import calls, followup, messaging, phone, reviews, scheduling, vendors
from .base import Event
from .clinic import ClinicConfigured

DLQ_SUFFIX = ".dlq"
_WEEK_MS = 7 * 24 * 3600 * 1000

# How production replicates: three brokers, every write on at least two before it is acknowledged
# (acks=all), so one broker may be lost or restarted without losing or refusing anything. One source
# for the Strimzi manifests (deploy/k8s: base/kafka/cluster.yaml, the generated topics.yaml) and the
# local three-broker cluster (frontdesk.tools.cluster); tests/deploy/test_replication_settings.py
# checks they agree.
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
CLUSTER_BROKER_CONFIG: dict[str, str] = {
    "auto.create.topics.enable": "false",
    "default.replication.factor": str(REPLICATION_FACTOR),
    "min.insync.replicas": str(MIN_INSYNC_REPLICAS),
    "offsets.topic.replication.factor": str(REPLICATION_FACTOR),
    "transaction.state.log.replication.factor": str(REPLICATION_FACTOR),
    "transaction.state.log.min.isr": str(MIN_INSYNC_REPLICAS),
    # Never elect a leader that is not in sync: it would silently drop acknowledged writes.
    "unclean.leader.election.enable": "false",
    # A dead letter carries the original record plus headers (see the registry's .dlq topics).
    "message.max.bytes": "2200000",
}


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

    def replicated_config(self, min_insync_replicas: int = MIN_INSYNC_REPLICAS) -> dict[str, str]:
        """The topic's settings on a replicated cluster (what production's KafkaTopic carries)."""
        return {**self.config(), "min.insync.replicas": str(min_insync_replicas)}


@dataclass(frozen=True)
class EventSpec:
    model: type[Event]
    topic: TopicSpec | None  # None: only on per-vendor topics (`patterns`)

    @property
    def event_type(self) -> str:
        return self.model.event_type

    @property
    def patterns(self) -> tuple[str, ...]:
        """The per-vendor topics (regexes) it may travel on, besides its own topic."""
        return phone.TOPIC_PATTERNS.get(self.event_type, ())


# Every event type, by domain module. A new event type is added to its module's EVENTS tuple.
ALL_EVENT_MODELS: tuple[type[Event], ...] = (
    ClinicConfigured,
    *calls.EVENTS,
    *vendors.EVENTS,
    *scheduling.EVENTS,
    *followup.EVENTS,
    *messaging.EVENTS,
    *reviews.EVENTS,
)

EVENTS: dict[str, EventSpec] = {
    model.event_type: EventSpec(
        model,
        TopicSpec(model.event_type, partitions=model.partitions, compacted=model.compacted)
        if model.shared_topic
        else None,
    )
    for model in ALL_EVENT_MODELS
}
VENDOR_TOPIC_PARTITIONS = 3


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def _dlq(topic: TopicSpec) -> TopicSpec:
    # A dead letter carries the original record plus headers, so it may be a little larger; it
    # keeps a month so an operator has time to look and replay.
    return TopicSpec(
        dlq_topic(topic.name), partitions=3, retention_ms=4 * _WEEK_MS, max_message_bytes=2 * topic.max_message_bytes
    )


def all_topics() -> list[TopicSpec]:
    """Every shared topic the system uses, dead-letter topics included (not the per-vendor ones)."""
    topics: list[TopicSpec] = []
    for spec in EVENTS.values():
        if spec.topic is not None:
            topics += [spec.topic, _dlq(spec.topic)]
    return topics


def vendor_topics(vendor_id: str) -> list[TopicSpec]:
    """A vendor's own topics: `.calls` (the router writes, the vendor reads), `.events` (the vendor
    writes, the router reads) and the dead-letter twin of `.events`, where the router parks what
    it refuses."""
    events = TopicSpec(phone.vendor_events_topic(vendor_id), partitions=VENDOR_TOPIC_PARTITIONS)
    return [TopicSpec(phone.vendor_calls_topic(vendor_id), partitions=VENDOR_TOPIC_PARTITIONS), events, _dlq(events)]


def spec_for(event_type: str) -> EventSpec | None:
    return EVENTS.get(event_type)


def topic_accepts(event_type: str, topic: str) -> bool:
    """Whether `event_type` may travel on `topic`: its registry topic, or a per-vendor topic its
    domain module allows (contracts/phone.py TOPIC_PATTERNS, e.g. call.overflowed on
    vendor.<id>.calls, answering.message_taken only on vendor.<id>.events)."""
    spec = EVENTS.get(event_type)
    if spec is None:
        return False
    if spec.topic is not None and spec.topic.name == topic:
        return True
    return any(re.match(pattern, topic) for pattern in spec.patterns)
