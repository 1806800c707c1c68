"""The bridge's Prometheus metrics (no caller, no call id in a label)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISION_SECONDS = Histogram(
    "frontdesk_phone_bridge_decision_seconds",
    "Time the bridge spends answering one routing question once the router's decision is in memory",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
)
ROUTER_WAIT_SECONDS = Histogram(
    "frontdesk_phone_bridge_router_wait_seconds",
    "Time a routing question waited for the router's next decision",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
ROUTER_SILENT = Counter(
    "frontdesk_phone_bridge_router_silent_total",
    "Routing questions the router did not answer in time (the clinic's vendors rang instead)",
)
FALLBACK = Counter(
    "frontdesk_phone_bridge_fallback_total",
    "Calls the bridge could not route, sent to the proxy's network fallback answering service, by why"
    " (unknown_number: no clinic has the number dialled, e.g. its configuration has not arrived;"
    " nothing_to_ring: the router was silent and the clinic has no SIP address to ring)",
    ["reason"],
)
CALLS = Counter("frontdesk_phone_bridge_calls_total", "Calls seen by the bridge, by what happened", ["outcome"])
