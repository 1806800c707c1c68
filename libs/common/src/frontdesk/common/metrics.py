"""Prometheus metrics shared by every service. Labels never carry patient data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "frontdesk_events_consumed_total",
    "Records handled by a service's consumer, by outcome (processed, duplicate, dead_lettered).",
    ["service", "topic", "outcome"],
)
HANDLER_RETRIES = Counter(
    "frontdesk_handler_retries_total", "Handler attempts that failed and were retried.", ["service", "topic", "kind"]
)
HANDLER_SECONDS = Histogram(
    "frontdesk_handler_seconds",
    "Time from starting a record to the commit of its transaction (or its dead-lettering); records of"
    " different partitions run concurrently, and offsets are committed later, in the background.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REUSED_EVENT_IDS = Counter(
    "frontdesk_reused_event_ids_total",
    "Records whose event source and id a processed event had, with other content (dead-lettered).",
    ["service", "topic"],
)
DLQ_PUBLISHED = Counter("frontdesk_dlq_published_total", "Records sent to a dead-letter topic.", ["service", "topic"])
CONSUMER_LAG = Gauge(
    "frontdesk_consumer_lag", "Records not yet consumed, per partition.", ["service", "topic", "partition"]
)
OUTBOX_PUBLISHED = Counter("frontdesk_outbox_published_total", "Outbox rows published to Kafka.", ["service"])
OUTBOX_BACKLOG = Gauge("frontdesk_outbox_backlog", "Outbox rows waiting to be published.", ["service"])
EVENTS_AWAITING_CLINIC = Gauge(
    "frontdesk_events_awaiting_clinic", "Events kept until their clinic's configuration arrives.", ["service"]
)
OLDEST_AWAITING_CLINIC = Gauge(
    "frontdesk_events_awaiting_clinic_oldest_seconds",
    "How long the oldest event kept for its clinic's configuration has waited (0: none waits).",
    ["service"],
)
TIMERS_FIRED = Counter("frontdesk_timers_fired_total", "Durable timers that fired.", ["service", "kind"])
TIMER_LATENESS = Histogram(
    "frontdesk_timer_lateness_seconds",
    "How long after its due time a durable timer was claimed to fire.",
    ["service", "kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TIMERS_FAILED = Counter(
    "frontdesk_timers_failed_total", "Durable timer runs that raised (retried later).", ["service", "kind"]
)
