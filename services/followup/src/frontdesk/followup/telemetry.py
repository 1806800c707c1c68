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
VERIFIED_NUMBERS = Counter(
    "frontdesk_followup_verified_numbers_total",
    "Numbers patients proved on a booking page, by what became of them (number_added, already_on_file,"
    " other_number_on_file, unreadable).",
    ["outcome"],
)
BOOKING_CODE_FAILURES = Counter(
    "frontdesk_followup_booking_code_failures_total",
    "Booking codes that could not be texted and were reported to the page (booking.code_failed), by reason.",
    ["reason"],
)
BOOKING_LINKS = Counter(
    "frontdesk_followup_booking_links_total",
    "Booking links texted to callers (booking.link_requested), by outcome: sent, deferred (quiet hours, caps,"
    " the clinic's limit), retry, failed, or the reason it was skipped.",
    ["outcome"],
)
