"""Signed, expiring links for patients: to the scheduler's pages (a waitlist offer, a reschedule
request, a clinic's booking page sent to a caller) and to reviews' feedback page.

followup signs the page links it sends; the scheduler, which serves the pages, verifies them. Both
read the same keys (FRONTDESK_PATIENT_LINK_KEYS, comma-separated: the first signs, all verify, for
rotation; at least 32 characters each) and the pages' public address (FRONTDESK_PATIENT_PAGES_URL).
Without them a service starts only on the local stack, with a key that is public by design. reviews
signs and verifies its feedback links with keys of its own (its settings), through the same
`sign` and `verify`.

A token is `<id>.<expires>.<signature>`: the id is an opaque id of the offer, request or feedback
link (it names no patient), the expiry (unix seconds, base 36) is inside the signed text, and the
HMAC-SHA256 (truncated to 128 bits) also covers the link's purpose, so an offer's token never opens
a reschedule page (nor a feedback page: `_signed_text`). Single use is the page's business (the
offer's, request's or link's row in its service's database); the signature only refuses forged or
altered links before touching the database.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .settings import ServiceSettings

Purpose = Literal["offer", "reschedule", "booking"]  # the scheduler's pages
LinkKind = Purpose | Literal["feedback"]  # what a link opens: a page, or reviews' feedback page
# The path under FRONTDESK_PATIENT_PAGES_URL where each purpose's page lives.
PAGE_PATHS: dict[Purpose, str] = {"offer": "/p/offer", "reschedule": "/p/reschedule", "booking": "/p/book"}
LOCAL_DEV_KEY = "frontdesk-patient-links-local-stack-only"  # deliberately public: loopback stacks only
LOCAL_PAGES_URL = "https://127.0.0.1:8002"  # the scheduler of `make run`, behind a local TLS terminator
MIN_KEY_LENGTH = 32
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_EXPIRES = re.compile(r"^[0-9a-z]{1,8}$")


class LinkError(Exception):
    """The link cannot be used; `public` is what the patient may be told."""

    public = "This link is not valid. Please use the link from your latest message, or call the practice."


class LinkInvalid(LinkError):
    pass


class LinkExpired(LinkError):
    public = "This link has expired. Please call the practice if you would still like an appointment."


class MissingLinkSettings(RuntimeError):
    pass


@dataclass(frozen=True)
class VerifiedLink:
    link_id: str
    expires_at: datetime


def _signed_text(purpose: LinkKind, link_id: str, expires: str) -> str:
    """What the signature covers. Feedback links were signed without a purpose before they shared this
    module, and one sent in the last 14 days must still open; an id has no dot, so no other purpose's
    text can read as a feedback link's."""
    return f"{link_id}.{expires}" if purpose == "feedback" else f"{purpose}.{link_id}.{expires}"


def _signature(key: bytes, purpose: LinkKind, link_id: str, expires: str) -> str:
    mac = hmac.new(key, _signed_text(purpose, link_id, expires).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def sign(purpose: LinkKind, link_id: str, expires_at: datetime, key: bytes) -> str:
    if not _ID.match(link_id):
        raise ValueError("a link id is 8-64 URL-safe characters")
    if not key:
        raise ValueError("an empty signing key")
    expires = _base36(int(expires_at.timestamp()))
    return f"{link_id}.{expires}.{_signature(key, purpose, link_id, expires)}"


def verify(purpose: LinkKind, token: str, keys: Sequence[bytes], now: datetime) -> VerifiedLink:
    """The link's id if one of `keys` signed it for `purpose` and it has not expired; else LinkError."""
    parts = token.split(".")
    if len(parts) != 3 or not _ID.match(parts[0]) or not _EXPIRES.match(parts[1]):
        raise LinkInvalid("malformed token")
    link_id, expires_text, signature = parts
    if not any(hmac.compare_digest(_signature(k, purpose, link_id, expires_text), signature) for k in keys if k):
        raise LinkInvalid("bad signature")
    expires_at = datetime.fromtimestamp(int(expires_text, 36), UTC)
    if now >= expires_at:
        raise LinkExpired("expired")
    return VerifiedLink(link_id, expires_at)


class PatientLinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_PATIENT_", extra="ignore")

    link_keys: SecretStr | None = None
    pages_url: str = ""

    def keys(self) -> list[bytes]:
        if self.link_keys is None:
            return []
        return [k.strip().encode() for k in self.link_keys.get_secret_value().split(",") if k.strip()]

    def url(self, purpose: Purpose, token: str) -> str:
        return f"{self.pages_url.rstrip('/')}{PAGE_PATHS[purpose]}/{token}"


def resolve(settings: PatientLinkSettings, service: ServiceSettings) -> PatientLinkSettings:
    """Check the keys and the pages' address; local-stack defaults, else MissingLinkSettings."""
    local = service.is_local_stack()
    keys = settings.keys()
    if not keys:
        if not local:
            raise MissingLinkSettings("FRONTDESK_PATIENT_LINK_KEYS is required outside the local stack")
        settings = settings.model_copy(update={"link_keys": SecretStr(LOCAL_DEV_KEY)})
    elif any(len(k) < MIN_KEY_LENGTH for k in keys):
        raise MissingLinkSettings(f"each FRONTDESK_PATIENT_LINK_KEYS key must be at least {MIN_KEY_LENGTH} characters")
    if not settings.pages_url:
        if not local:
            raise MissingLinkSettings("FRONTDESK_PATIENT_PAGES_URL is required outside the local stack")
        settings = settings.model_copy(update={"pages_url": LOCAL_PAGES_URL})
    elif not settings.pages_url.startswith("https://"):
        raise MissingLinkSettings("FRONTDESK_PATIENT_PAGES_URL must be an https:// URL")
    return settings


@functools.cache
def current(service: str) -> PatientLinkSettings:
    return resolve(PatientLinkSettings(), ServiceSettings.for_service(service))
