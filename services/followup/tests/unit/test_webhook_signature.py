"""Inbound webhooks are authenticated (HMAC over timestamp and body) and fresh (5-minute window)."""

from __future__ import annotations

from datetime import time

import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.followup.domain.quiet_hours import DailyWindow
from frontdesk.followup.sending import recipient_rule
from frontdesk.followup.sms_replies import normalise_phone, sign, verify

SECRET = b"s3cret"
SECRETS = [SECRET]
BODY = b'{"from": "+15555550123", "text": "STOP"}'
NOW = 1_800_000_000


def test_a_good_signature_passes() -> None:
    ts = str(NOW)
    assert verify(SECRETS, ts, sign(SECRET, ts, BODY), BODY, NOW + 10) is None


def test_tampering_staleness_and_missing_headers_fail() -> None:
    ts = str(NOW)
    good = sign(SECRET, ts, BODY)
    assert verify(SECRETS, ts, good, BODY + b" ", NOW) == "bad signature"
    assert verify([b"other"], ts, good, BODY, NOW) == "bad signature"
    assert verify(SECRETS, str(NOW + 1), good, BODY, NOW) == "bad signature"  # timestamp is signed too
    assert verify(SECRETS, ts, good, BODY, NOW + 301) == "timestamp outside the allowed window"
    assert verify(SECRETS, ts, good, BODY, NOW - 301) == "timestamp outside the allowed window"
    assert verify(SECRETS, None, good, BODY, NOW) is not None
    assert verify(SECRETS, ts, None, BODY, NOW) is not None
    assert verify(SECRETS, "yesterday", good, BODY, NOW) == "X-Frontdesk-Timestamp must be Unix seconds"
    assert verify(SECRETS, "9" * 5000, good, BODY, NOW) == "X-Frontdesk-Timestamp must be Unix seconds"


def test_issue16_item1_every_listed_secret_verifies_during_a_rotation() -> None:
    ts = str(NOW)
    old, new = b"o" * 32, b"n" * 32
    assert verify([new, old], ts, sign(old, ts, BODY), BODY, NOW) is None
    assert verify([new, old], ts, sign(new, ts, BODY), BODY, NOW) is None
    assert verify([new], ts, sign(old, ts, BODY), BODY, NOW) == "bad signature"  # retired


@pytest.mark.parametrize("signature", ["é" * 64, "\u00ff", "ab\x80cd", "✓" * 10])
def test_issue16_item10_a_non_ascii_signature_is_a_bad_signature(signature: str) -> None:
    # Starlette decodes header bytes as Latin-1; hmac.compare_digest refuses non-ASCII str (a 500).
    header = signature.encode("utf-8").decode("latin-1")
    assert verify(SECRETS, str(NOW), header, BODY, NOW) == "bad signature"
    assert (
        verify(SECRETS, "١٢٣", sign(SECRET, str(NOW), BODY), BODY, NOW) == "X-Frontdesk-Timestamp must be Unix seconds"
    )


def test_phone_numbers_are_compared_in_one_form() -> None:
    assert normalise_phone("+1 (555) 555-0123") == normalise_phone("15555550123") == "+15555550123"


def _clinic(**messaging: object) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "c-1",
            "name": "Maple",
            "timezone": "America/New_York",
            "phone": {"answering_service": "a"},
            "messaging": messaging,
        }
    )


def test_the_recipients_state_and_the_clinics_hours_narrow_the_rule() -> None:
    assert recipient_rule(_clinic(), None).windows[0] == DailyWindow(time(8), time(21))
    assert recipient_rule(_clinic(state="FL"), None).windows[0] == DailyWindow(time(8), time(20))
    # The patient's own state wins over the clinic's default state.
    assert recipient_rule(_clinic(state="FL"), "CT").windows[0] == DailyWindow(time(9), time(20))
    narrowed = recipient_rule(_clinic(quiet_hours_start="10:00", quiet_hours_end="19:00"), None)
    assert narrowed.windows[6] == DailyWindow(time(10), time(19))
