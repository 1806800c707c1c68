"""The console's session cookie and CSRF tokens: signed, short-lived, checked on every request.

A session is `<payload>.<signature>`: the payload is URL-safe base64 of compact JSON (who, which
clinics, expiry, a CSRF secret); the signature HMAC-SHA256 over it with the first session key (all
keys verify, for rotation). It holds no patient data. Anything altered, unsigned or expired is None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SESSION_SECONDS = 15 * 60


@dataclass(frozen=True)
class Session:
    subject: str
    clinics: frozenset[str] | None  # None: every clinic of the network
    expires_at: int  # Unix seconds
    csrf: str

    def can_see(self, clinic_id: str) -> bool:
        return self.clinics is None or clinic_id in self.clinics


def new_session(subject: str, clinics: frozenset[str] | None, now: datetime, token_expires_at: int) -> Session:
    """A session that ends SESSION_SECONDS from now, and never after the token it was made from."""
    expires = min(int(now.timestamp()) + SESSION_SECONDS, token_expires_at)
    return Session(subject, clinics, expires, secrets.token_urlsafe(24))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def sign(body: dict[str, Any], key: bytes) -> str:
    """`<payload>.<signature>`: compact JSON, URL-safe base64, HMAC-SHA256 (the session, the OIDC sign-in)."""
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def unsign(cookie: str, keys: Sequence[bytes]) -> dict[str, Any] | None:
    """The signed JSON object, or None when the signature is missing, wrong or the payload is not JSON."""
    payload, _, signature = cookie.partition(".")
    if not payload or not signature or not any(hmac.compare_digest(_mac(k, payload), signature) for k in keys):
        return None
    try:
        body = json.loads(_unb64(payload))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def encode_session(session: Session, key: bytes) -> str:
    body: dict[str, Any] = {
        "sub": session.subject,
        "clinics": None if session.clinics is None else sorted(session.clinics),
        "exp": session.expires_at,
        "csrf": session.csrf,
    }
    return sign(body, key)


def decode_session(cookie: str, keys: Sequence[bytes], now: datetime) -> Session | None:
    body = unsign(cookie, keys)
    if body is None:
        return None
    try:
        clinics = body["clinics"]
        session = Session(
            subject=str(body["sub"]),
            clinics=None if clinics is None else frozenset(str(c) for c in clinics),
            expires_at=int(body["exp"]),
            csrf=str(body["csrf"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if now.timestamp() < session.expires_at else None


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())
