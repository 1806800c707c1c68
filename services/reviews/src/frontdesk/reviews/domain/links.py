"""Signed, expiring feedback links. Pure: the caller supplies the random token id, keys and clock.

A link is `<token_id>.<expires>.<signature>` (about 53 characters, short enough for an SMS): the
token id is random (it names no patient, visit or clinic), the expiry (unix seconds, base 36) is
inside the signed text, and the signature is an HMAC-SHA256 over both with the service's key,
truncated to 128 bits. Single use is enforced by the database (the token's row is marked used
in the transaction that records the answer); the signature only lets forged or altered links be
refused without touching the database. Several keys may verify (rotation); the first one signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_EXPIRES = re.compile(r"^[0-9a-z]{1,8}$")


class LinkError(Exception):
    """The link cannot be used; `public` is what the patient may be told."""

    public = "This feedback link is not valid."


class LinkInvalid(LinkError):
    pass


class LinkExpired(LinkError):
    public = "This feedback link has expired."


@dataclass(frozen=True)
class VerifiedLink:
    token_id: str
    expires_at: datetime


def _signature(key: bytes, token_id: str, expires: str) -> str:
    mac = hmac.new(key, f"{token_id}.{expires}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def sign(token_id: str, expires_at: datetime, key: bytes) -> str:
    if not _TOKEN_ID.match(token_id):
        raise ValueError("a token id is 16-64 URL-safe characters")
    if not key:
        raise ValueError("an empty signing key")
    expires = _base36(int(expires_at.timestamp()))
    return f"{token_id}.{expires}.{_signature(key, token_id, expires)}"


def verify(token: str, keys: Sequence[bytes], now: datetime) -> VerifiedLink:
    """The token's id if the signature is one of `keys`' and it has not expired; else LinkError."""
    parts = token.split(".")
    if len(parts) != 3 or not _TOKEN_ID.match(parts[0]) or not _EXPIRES.match(parts[1]):
        raise LinkInvalid("malformed token")
    token_id, expires_text, signature = parts
    if not any(hmac.compare_digest(_signature(k, token_id, expires_text), signature) for k in keys if k):
        raise LinkInvalid("bad signature")
    expires_at = datetime.fromtimestamp(int(expires_text, 36), UTC)
    if now >= expires_at:
        raise LinkExpired("expired")
    return VerifiedLink(token_id, expires_at)
