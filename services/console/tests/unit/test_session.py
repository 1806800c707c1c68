"""The session cookie: round trip, tampering, expiry, key rotation, the token's own expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.settings import ServiceSettings
from frontdesk.console.domain.session import (
    SESSION_SECONDS,
    csrf_matches,
    decode_session,
    encode_session,
    new_session,
)
from frontdesk.console.settings import MissingSessionKey, OidcSettings, resolve

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FAR = int((NOW + timedelta(days=1)).timestamp())


def test_round_trip() -> None:
    s = new_session("ana", frozenset({"c1"}), NOW, FAR)
    back = decode_session(encode_session(s, KEY), [KEY], NOW)
    assert back == s and back.can_see("c1") and not back.can_see("c2")
    network = new_session("ops", None, NOW, FAR)
    assert decode_session(encode_session(network, KEY), [KEY], NOW).can_see("any")  # type: ignore[union-attr]


def test_expires_after_its_minutes_and_never_after_the_token() -> None:
    s = new_session("ana", None, NOW, FAR)
    cookie = encode_session(s, KEY)
    assert decode_session(cookie, [KEY], NOW + timedelta(seconds=SESSION_SECONDS - 1)) is not None
    assert decode_session(cookie, [KEY], NOW + timedelta(seconds=SESSION_SECONDS)) is None
    short = new_session("ana", None, NOW, int(NOW.timestamp()) + 60)
    assert short.expires_at == int(NOW.timestamp()) + 60


@pytest.mark.parametrize("mangle", ["flip_payload", "flip_signature", "no_signature", "other_key", "garbage"])
def test_tampered_cookies_are_refused(mangle: str) -> None:
    cookie = encode_session(new_session("ana", frozenset({"c1"}), NOW, FAR), KEY)
    payload, signature = cookie.split(".")
    forged = {
        "flip_payload": payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature,
        "flip_signature": payload + "." + signature[::-1],
        "no_signature": payload,
        "other_key": encode_session(new_session("ana", None, NOW, FAR), b"x" * 32),
        "garbage": "not.a-cookie",
    }[mangle]
    assert decode_session(forged, [KEY], NOW) is None


def test_rotation_old_key_still_verifies() -> None:
    cookie = encode_session(new_session("ana", None, NOW, FAR), KEY)
    assert decode_session(cookie, [b"n" * 32, KEY], NOW) is not None


def test_csrf() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches("abc", "abd") and not csrf_matches("abc", None) and not csrf_matches("", "")


def test_keys_required_outside_the_local_stack() -> None:
    remote = ServiceSettings(database_url="postgresql://db.internal/x", kafka_bootstrap_servers="kafka:9092")
    with pytest.raises(MissingSessionKey):
        resolve(None, remote)
    with pytest.raises(MissingSessionKey):
        resolve("short", remote)
    provider = OidcSettings(
        "https://id.example.org", "console", None, "https://c/cb", "openid", "clinics", "scope", "IdP"
    )
    resolved = resolve("s" * 32, remote, provider)
    assert resolved.secure_cookies and resolved.session_keys == (b"s" * 32,)
    local = ServiceSettings(database_url="postgresql://127.0.0.1/x", kafka_bootstrap_servers="127.0.0.1:9092")
    assert not resolve(None, local).secure_cookies
