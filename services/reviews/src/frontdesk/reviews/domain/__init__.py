"""reviews' rules, pure (no I/O): requests, links, feedback and recovery, reputation."""

from .requests import (
    DEFAULT_DELAY,
    FREQUENCY_CAP,
    TEMPLATE,
    Consent,
    Preference,
    build_message,
    capped,
    consent_from,
    message_request_id,
    message_variables,
    review_links,
    review_request_id,
    scheduled_send_at,
    send_time,
    shift_out_of_quiet_hours,
    skip_reason,
)

__all__ = [
    "DEFAULT_DELAY",
    "FREQUENCY_CAP",
    "TEMPLATE",
    "Consent",
    "Preference",
    "build_message",
    "capped",
    "consent_from",
    "message_request_id",
    "message_variables",
    "review_links",
    "review_request_id",
    "scheduled_send_at",
    "send_time",
    "shift_out_of_quiet_hours",
    "skip_reason",
]
