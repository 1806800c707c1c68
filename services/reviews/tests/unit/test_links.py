"""Feedback links: signed and verified by frontdesk.common.patient_links (its tests cover forgery,
expiry, rotation and malformed tokens); here, what is particular to the feedback page's links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.patient_links import LinkInvalid, sign, verify

KEY = b"k" * 32
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TOKEN_ID = "AbCdEfGhIjKlMnOpQrStUv"
# Signed by reviews' own signer before feedback links moved to patient_links: links sent in the
# last 14 days (the links' lifetime) look like this one and must still open.
SENT_BEFORE = "AbCdEfGhIjKlMnOpQrStUv.tp5tc0.0gQSxoTC5CbLeavCHt43Vg"


def test_a_link_sent_before_the_move_still_verifies() -> None:
    assert sign("feedback", TOKEN_ID, NOW, KEY) == SENT_BEFORE
    link = verify("feedback", SENT_BEFORE, [KEY], NOW - timedelta(days=1))
    assert link.link_id == TOKEN_ID and link.expires_at == NOW


def test_the_link_carries_no_patient_data_and_fits_a_text() -> None:
    token = sign("feedback", TOKEN_ID, NOW, KEY)
    token_id, expires, signature = token.split(".")
    assert token_id == TOKEN_ID and int(expires, 36) == int(NOW.timestamp()) and len(signature) == 22
    assert len(token) <= 56


@pytest.mark.parametrize("purpose", ["offer", "reschedule", "booking"])
def test_a_feedback_link_opens_no_page_and_no_page_link_opens_feedback(purpose: str) -> None:
    feedback = sign("feedback", TOKEN_ID, NOW + timedelta(days=1), KEY)
    page = sign(purpose, TOKEN_ID, NOW + timedelta(days=1), KEY)  # type: ignore[arg-type]
    with pytest.raises(LinkInvalid):
        verify(purpose, feedback, [KEY], NOW)  # type: ignore[arg-type]
    with pytest.raises(LinkInvalid):
        verify("feedback", page, [KEY], NOW)
