"""reviews' Prometheus metrics. Labels are clinic and provider ids only, never patient data.

Counters are incremented at the end of a handler, just before its transaction commits; a commit that
then fails and is retried may count once more (metrics are not the record: the database is).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "frontdesk_reviews_requests_total",
    "Review requests by outcome (scheduled, requested = delivered, skipped) and skip reason.",
    ["clinic_id", "provider_id", "outcome", "reason"],
)
RESPONSES = Counter(
    "frontdesk_reviews_responses_total", "Private ratings received.", ["clinic_id", "provider_id", "scale"]
)
SCORES = Histogram(
    "frontdesk_reviews_score",
    "Private ratings (stars 1-5, NPS 0-10): sum/count is the average; le=6 and le=8 give NPS bands.",
    ["clinic_id", "provider_id", "scale"],
    buckets=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
)
ESCALATIONS = Counter(
    "frontdesk_reviews_escalations_total",
    "Service-recovery escalations by level.",
    ["clinic_id", "provider_id", "level"],
)
RECOVERIES_CLOSED = Counter(
    "frontdesk_reviews_recoveries_closed_total",
    "Service-recovery tasks closed, within the deadline or not.",
    ["clinic_id", "provider_id", "within_deadline"],
)
SUMMARIES = Counter("frontdesk_reviews_reputation_summaries_total", "reputation.summary events emitted.", ["clinic_id"])
