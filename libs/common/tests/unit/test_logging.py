"""The personal-data scrubber, on its own and at the end of the real logging pipeline."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from frontdesk.common.logging import REDACTED, configure_logging, get_logger, scrub_personal_data, scrub_text


@pytest.mark.parametrize(
    "phone",
    [
        "+1 (555) 123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "555-123-4567",
        "5551234567",
        "+15551234567",
        "+1-555-123-4567",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+33 1 23 45 67 89",
        "+49 (30) 1234 5678",
    ],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert scrub_text(phone) == REDACTED
    assert scrub_text(f"caller {phone} asked for a callback") == f"caller {REDACTED} asked for a callback"
    in_brackets = scrub_text(f"call ({phone}), urgent")  # the "(" may go with the number
    assert REDACTED in in_brackets and in_brackets.endswith("), urgent")
    assert not any(c.isdigit() for c in in_brackets)


@pytest.mark.parametrize(
    "email",
    ["jane.doe@example.com", "J.Doe+clinic@mail.example.co.uk", "patient_42@example.org"],
)
def test_emails_are_redacted(email: str) -> None:
    assert scrub_text(f"send to {email}.") == f"send to {REDACTED}."
    assert email not in scrub_text(f"<{email}>")


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27",
        "closed on 2026-11-27 and 2026-11-28",
        "between 2026-11-27 2026-11-28",
        "2026-11-27T10:00:00Z",
        "2026-11-27T10:00:00.123456+00:00",
        "due 2026-11-27 10:00:00-05:00",  # str(datetime) separates date and time with a space
        "2026-11-27 10:00",
        "2026-11-27 12 calls",
        "10:00",
        "10:00:00",
        "opens 08:00-12:00",
        "3 calls in 42 ms",
        "attempt 12345",
        "port 8080",
        "v1.2.3",
        "123e4567-e89b-12d3-a456-426614174000",
        "event 12345678-1234-4234-8234-123456789012 done",  # a UUID with no letters in it
        "call-5551234567",  # digits inside an id are part of the id
        "appt-0f3c9a1b2c3d4e5f6a7b",
    ],
)
def test_dates_times_short_numbers_and_ids_are_kept(text: str) -> None:
    assert scrub_text(text) == text


def test_a_phone_next_to_a_date_is_still_redacted() -> None:
    assert scrub_text("2026-11-27 555 123 4567") == f"2026-11-27 {REDACTED}"
    assert scrub_text("on 2026-11-27 10:00 call +1 555 123 4567") == f"on 2026-11-27 10:00 call {REDACTED}"


def test_personal_data_keys_are_redacted_in_any_case_and_at_any_depth() -> None:
    event = {
        "event": "patient called from +1 555 123 4567",
        "Name": "Jane Doe",
        "PHONE": "not a number at all",
        "email": "jane@example.com",
        "call_id": "call-1",
        "attempts": 3,
        "caller": {"full_name": "Jane Doe", "Phone_Number": 5551234567, "clinic_id": "clinic-1"},
        "contacts": [{"email": "x@example.com"}, "reach me at 555.123.4567", 7],
        "pair": ("jane@example.com", None),
        "timestamp": "2026-11-27T10:00:00Z",
        "level": "info",
    }
    out = scrub_personal_data(None, "info", dict(event))
    assert out == {
        "event": f"patient called from {REDACTED}",
        "Name": REDACTED,
        "PHONE": REDACTED,
        "email": REDACTED,
        "call_id": "call-1",
        "attempts": 3,
        "caller": {"full_name": REDACTED, "Phone_Number": REDACTED, "clinic_id": "clinic-1"},
        "contacts": [{"email": REDACTED}, f"reach me at {REDACTED}", 7],
        "pair": [REDACTED, None],
        "timestamp": "2026-11-27T10:00:00Z",
        "level": "info",
    }


def test_trace_and_event_ids_are_not_touched() -> None:
    event = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "event_id": "123456789"}
    assert scrub_personal_data(None, "info", dict(event)) == event


# --- end to end ---------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("aiokafka", "uvicorn.access", "httpx")}
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in noisy.items():
        logging.getLogger(name).setLevel(saved)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_logging")
def test_structlog_and_stdlib_lines_are_json_scrubbed_and_name_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service")
    get_logger("frontdesk.test").info("caller +1 (555) 123-4567 routed", phone="+1 555 123 4567", call_id="call-1")
    logging.getLogger("some.library").warning("retrying for %s at %s", "jane@example.com", "555.123.4567")

    out = capsys.readouterr().out
    # (Not a bare "555": a timestamp's microseconds may contain it.)
    assert "123-4567" not in out and "123 4567" not in out and "555.123" not in out
    assert "jane@example.com" not in out
    ours, library = _json_lines(out)

    assert ours["event"] == f"caller {REDACTED} routed"
    assert ours["phone"] == REDACTED
    assert ours["call_id"] == "call-1"
    assert ours["service"] == "test-service"
    assert ours["level"] == "info"
    assert ours["logger"] == "frontdesk.test"
    assert "timestamp" in ours

    assert library["event"] == f"retrying for {REDACTED} at {REDACTED}"
    assert library["service"] == "test-service"
    assert library["level"] == "warning"
    assert library["logger"] == "some.library"


@pytest.mark.usefixtures("restore_logging")
def test_exception_text_is_scrubbed_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service")
    try:
        raise ValueError("bad phone +44 20 7946 0958")
    except ValueError:
        get_logger("frontdesk.test").exception("failed")
    [line] = _json_lines(capsys.readouterr().out)
    assert "7946" not in line["exception"]
    assert "ValueError" in line["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_level_filtering(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service", level="warning")
    get_logger("frontdesk.test").info("hidden")
    logging.getLogger("aiokafka").info("hidden too")
    get_logger("frontdesk.test").warning("shown")
    assert [line["event"] for line in _json_lines(capsys.readouterr().out)] == ["shown"]


@pytest.mark.usefixtures("restore_logging")
def test_httpx_requests_are_not_logged_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    """httpx logs each request with its URL at INFO (a line per message sent to the SMS provider)."""
    configure_logging("test-service")
    logging.getLogger("httpx").info(
        'HTTP Request: POST %s "%s"', "https://provider.example/messages", "HTTP/1.1 200 OK"
    )
    logging.getLogger("httpx").warning("shown")
    assert [line["event"] for line in _json_lines(capsys.readouterr().out)] == ["shown"]
