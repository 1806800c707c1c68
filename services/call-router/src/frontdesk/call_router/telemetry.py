"""call-router's own Prometheus metrics (labels: clinic and vendor ids, never caller data).

Counters are bumped inside handlers, so a transaction retried after a failure may count twice;
the per-clinic, per-hour figures of GET /v1/clinics/{id}/metrics come from the calls table and are
exact.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROUTED = Counter(
    "frontdesk_calls_routed_total",
    "Routing decisions (call.routed), by target kind and reason.",
    ["clinic_id", "target_kind", "reason"],
)
MISSED_OFFERS = Counter("frontdesk_call_offers_missed_total", "Offers that rang out unanswered.", ["clinic_id"])
DECLINED_OFFERS = Counter(
    "frontdesk_call_offers_declined_total",
    "Offers refused before their ring timeout (busy, declined), by reason.",
    ["clinic_id", "reason"],
)
VENDOR_FAILOVERS = Counter(
    "frontdesk_vendor_failovers_total", "Calls moved off a vendor that missed its answer target.", ["vendor_id"]
)
VENDOR_CALLBACKS = Counter(
    "frontdesk_vendor_callbacks_total",
    "Calls handed to a vendor's own topic, by whether a sealed callback number went with them",
    ["vendor_id", "outcome"],  # sealed | no_number | no_vendor_key | unreadable
)
VENDOR_HEDGES = Counter(
    "frontdesk_vendor_hedges_total",
    "Calls offered to a second vendor too (the first had not answered when the second still could in time).",
    ["clinic_id", "vendor_id"],
)
VENDOR_WITHDRAWALS = Counter(
    "frontdesk_vendor_withdrawals_total",
    "Calls withdrawn from a vendor (call.withdrawn): answered by someone else, or abandoned.",
    ["vendor_id", "reason"],
)
VENDOR_LATE_ANSWERS = Counter(
    "frontdesk_vendor_late_answers_total",
    "Answers a vendor reported for a call already withdrawn from it (recorded, not counted as answers).",
    ["vendor_id"],
)
DECISION_LAG = Histogram(
    "frontdesk_call_received_to_routed_seconds",
    "From the call's received_at to the routing decision (before the outbox publish).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 6, 18),
)
CALLS_RECEIVED = Counter("frontdesk_calls_received_total", "Calls received (offered, in SL terms).", ["clinic_id"])
CALLS_ANSWERED = Counter(
    "frontdesk_calls_answered_total",
    "Calls answered, by whether the answer came within the ring budget (from received_at).",
    ["clinic_id", "within_budget"],
)
TIME_TO_HUMAN = Histogram(
    "frontdesk_call_time_to_human_seconds",
    "From a call's received_at to its first answer by a live human (receptionist or vendor).",
    ["clinic_id"],
    buckets=(1, 2, 4, 6, 9, 12, 15, 18, 24, 30, 45, 60, 120),
)
CALLS_ABANDONED = Counter(
    "frontdesk_calls_abandoned_total",
    "Calls abandoned before an answer, short (<= 5 s) or not.",
    ["clinic_id", "short"],
)
CALLS_OVERFLOWED = Counter(
    "frontdesk_calls_overflowed_total",
    "Hand-overs to an answering-service vendor.",
    ["clinic_id", "vendor_id", "reason"],
)
OLDEST_WAITING = Gauge(
    "frontdesk_call_oldest_waiting_received_timestamp_seconds",
    "received_at of the oldest unanswered call (0 = none): longest current wait = time() - this.",
    ["clinic_id"],
)
VENDOR_MESSAGES = Counter(
    "frontdesk_vendor_messages_total", "Messages vendors took, by urgency.", ["clinic_id", "vendor_id", "urgency"]
)
VENDOR_EVENTS_REFUSED = Counter(
    "frontdesk_vendor_events_refused_total",
    "Vendor events refused by the isolation rule (a clinic or call the vendor does not serve).",
    ["vendor_id", "event_type"],
)
PAGES = Counter(
    "frontdesk_oncall_pages_requested_total", "On-call pages requested, first or escalated.", ["clinic_id", "escalated"]
)
DIGEST_MESSAGES = Counter(
    "frontdesk_digest_messages_released_total", "Routine messages released in a clinic's digest.", ["clinic_id"]
)
UNKNOWN_CLINIC_CALLS = Counter(
    "frontdesk_calls_unknown_clinic_total",
    "Calls for a clinic the router has no configuration for: handed to the network fallback, or held"
    " unrouted (no fallback configured either; FrontdeskUnknownClinicCallsUnrouted).",
    ["outcome"],
)
PAGE_ACKNOWLEDGED = Histogram(
    "frontdesk_oncall_acknowledged_seconds",
    "From an urgent message's or call's first on-call page to its acknowledgement.",
    ["subject"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600),
)
