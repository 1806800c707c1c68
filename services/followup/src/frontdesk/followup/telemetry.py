"""followup's own Prometheus metrics (labels never carry patient data)."""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES = Counter(
    "frontdesk_followup_messages_total",
    "Message decisions: sent, skipped, failed, deferred, retry, cancelled.",
    ["outcome"],
)
SKIPS = Counter(
    "frontdesk_followup_skips_total",
    "Messages not sent, by reason (quiet hours passed, opted out, no consent, ...; failed = permanent_failure).",
    ["reason"],
)
PLANNED = Counter("frontdesk_followup_planned_total", "Follow-ups planned, by kind.", ["kind"])
REPLIES = Counter("frontdesk_followup_replies_total", "Inbound replies, by meaning.", ["meaning"])
