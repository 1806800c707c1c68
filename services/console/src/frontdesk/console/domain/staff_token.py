"""The staff member's own Frontdesk token, kept for acting on their behalf (completing a callback,
closing a recovery task through the owning service's API): sealed into its own HttpOnly cookie.

AES-256-GCM under a key derived from the session key (HMAC-SHA256(key, purpose)), bound by its
associated data to the session's CSRF secret: the sealed token opens only next to the session it was
issued with, and the browser (or anyone reading the cookie) sees ciphertext only. All session keys
open it (rotation), the first seals.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PURPOSE = b"frontdesk console: staff token"
_NONCE = 12


def _key(session_key: bytes) -> bytes:
    return hmac.new(session_key, _PURPOSE, hashlib.sha256).digest()


def seal(token: str, session_key: bytes, session_csrf: str) -> str:
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(_key(session_key)).encrypt(nonce, token.encode(), session_csrf.encode())
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def open_sealed(cookie: str | None, session_keys: Sequence[bytes], session_csrf: str) -> str | None:
    """The token, or None when absent, altered or from another session."""
    if not cookie:
        return None
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except ValueError:
        return None
    for key in session_keys:
        try:
            return AESGCM(_key(key)).decrypt(raw[:_NONCE], raw[_NONCE:], session_csrf.encode()).decode()
        except (InvalidTag, ValueError):
            continue
    return None
