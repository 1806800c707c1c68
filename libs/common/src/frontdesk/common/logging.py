"""Structured JSON logs (structlog) with service, event and trace ids, and a scrubber for personal data.

Every log line, ours and the libraries' (uvicorn, aiokafka), goes through the same
processors, so the scrubber sees everything. The scrubber is a safety net: the first rule is still
that code never logs names, phone numbers, emails or clinical text.
"""

from __future__ import annotations

import logging
import string
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from .pii import EMAIL, KEEP_OR_PHONE, PERSONAL_DATA_KEYS, REDACTED, is_phone_match

# The patterns and keys are frontdesk.common.pii's: one definition of personal data for the scrubber
# and for the tests that scan the bus and the logs.
__all__ = [
    "MAX_LOGGED_CHARS",
    "REDACTED",
    "cap",
    "configure_logging",
    "get_logger",
    "scrub_personal_data",
    "scrub_text",
]


# One logged string is at most this long: a hostile value (a 1 MB header) costs neither the scrubber's
# time nor the log's space. The cut could halve a phone number or an email, which the scrubber would
# then not recognise: the last _TAIL characters are cut back to the last character neither can hold.
MAX_LOGGED_CHARS = 16_384
_TAIL = 64
_PARTIAL = string.ascii_letters + string.digits + string.whitespace + "._%+@()-"


def cap(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """`text`, or its first `limit` characters (less what may be half a number or email) and a note."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - _TAIL, 0)] + text[max(limit - _TAIL, 0) : limit].rstrip(_PARTIAL)
    return f"{head}...[{len(text)} characters, cut]"


def scrub_text(text: str) -> str:
    """Emails and phone numbers redacted (in time linear in the length: frontdesk.common.pii)."""
    text = EMAIL.sub(REDACTED, cap(text))
    return KEEP_OR_PHONE.sub(lambda match: REDACTED if is_phone_match(match) else match.group(), text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in PERSONAL_DATA_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact emails, phone numbers and values of personal-data keys."""
    for key in list(event_dict):
        if key.lower() in PERSONAL_DATA_KEYS:
            event_dict[key] = REDACTED
        elif key not in ("timestamp", "level", "trace_id", "span_id", "event_id"):
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(service: str, level: str = "INFO", json_output: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrub_personal_data,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The libraries' per-message chatter is not useful at INFO; their warnings and errors are. httpx
    # would log every request's URL (a provider's, a webhook's) at INFO: a line per message sent.
    for noisy in ("aiokafka", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
