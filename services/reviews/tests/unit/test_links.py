"""Signed, expiring feedback links: forged, altered or expired links are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.reviews.domain.links import LinkExpired, LinkInvalid, sign, verify

KEY = b"k" * 32
OTHER = b"o" * 32
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TOKEN_ID = "AbCdEfGhIjKlMnOpQrStUv"


def test_a_signed_link_verifies_until_it_expires() -> None:
    token = sign(TOKEN_ID, NOW + timedelta(days=14), KEY)
    link = verify(token, [KEY], NOW)
    assert link.token_id == TOKEN_ID
    assert link.expires_at == NOW + timedelta(days=14)
    with pytest.raises(LinkExpired):
        verify(token, [KEY], NOW + timedelta(days=14))


def test_the_link_carries_no_patient_data() -> None:
    token = sign(TOKEN_ID, NOW, KEY)
    token_id, expires, signature = token.split(".")
    assert token_id == TOKEN_ID and int(expires, 36) == int(NOW.timestamp()) and len(signature) == 22
    assert len(token) <= 56


def test_another_key_or_an_altered_part_is_refused() -> None:
    token = sign(TOKEN_ID, NOW + timedelta(days=1), KEY)
    with pytest.raises(LinkInvalid):
        verify(token, [OTHER], NOW)
    token_id, expires, signature = token.split(".")
    for altered in (
        f"{token_id[:-1]}x.{expires}.{signature}",
        f"{token_id}.{int(expires, 36) + 86400:x}.{signature}",  # extend the expiry
        f"{token_id}.{expires}.{signature[:-1]}A" if not signature.endswith("A") else f"{token_id}.{expires}.x",
    ):
        with pytest.raises(LinkInvalid):
            verify(altered, [KEY], NOW)


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b.c", "../../etc", f"{TOKEN_ID}.-1.x", f"{TOKEN_ID}.1.2.3", f"{TOKEN_ID}.ZZ.x"]
)
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(LinkInvalid):
        verify(garbage, [KEY], NOW)


def test_rotation_old_key_still_verifies_new_key_signs() -> None:
    old = sign(TOKEN_ID, NOW + timedelta(days=1), OTHER)
    assert verify(old, [KEY, OTHER], NOW).token_id == TOKEN_ID
    assert verify(sign(TOKEN_ID, NOW + timedelta(days=1), KEY), [KEY, OTHER], NOW).token_id == TOKEN_ID


def test_bad_inputs_to_sign() -> None:
    with pytest.raises(ValueError):
        sign("short", NOW, KEY)
    with pytest.raises(ValueError):
        sign(TOKEN_ID, NOW, b"")
