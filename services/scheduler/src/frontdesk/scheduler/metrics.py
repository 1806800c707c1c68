"""scheduler's own Prometheus metrics (labels never carry patient data)."""

from __future__ import annotations

from prometheus_client import Counter

REFUSALS = Counter(
    "frontdesk_scheduler_refusals_total",
    "Booking, move and waitlist commands refused, by reason (slot_taken = a booking conflict).",
    ["reason"],
)
