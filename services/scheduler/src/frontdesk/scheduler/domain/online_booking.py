"""Rules of the patients' booking page that need no I/O: the one-time code (made, kept only as a
digest, judged), the abuse limits per phone number and per client address, what a patient types (a
phone number, a name, a code), and the signed form token every step of the page carries.

The code confirms a hold: it expires with the hold, allows MAX_ATTEMPTS wrong tries (then the hold is
released), and confirms once. The limits are rolling windows in elapsed time; a request beyond one
is told when it may come back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

CODE_DIGITS = 6
MAX_ATTEMPTS = 5
FORM_TTL = timedelta(hours=2)
Claim = Literal["new", "existing"]
# undelivered: followup could not text the code (booking.code_failed); the hold is released at once.
Status = Literal["pending", "confirmed", "locked", "expired", "released", "undelivered"]
Outcome = Literal["confirm", "wrong", "locked", "expired", "closed"]


# --- what the patient types ----------------------------------------------------------------------

_PHONE_NOISE = re.compile(r"[\s().\-/]")


def normalize_phone(text: str) -> str | None:
    """E.164 of a number as people type it (`(415) 555-0123`, `+44 20 7946 0000`); a number without
    a country code is North American. None if it cannot be a phone number."""
    raw = _PHONE_NOISE.sub("", text.strip())[:32]
    if raw.startswith("+"):
        digits = raw[1:]
        ok = digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15 and not digits.startswith("0")
        return "+" + digits if ok else None
    if not (raw.isascii() and raw.isdigit()):
        return None
    if len(raw) == 11 and raw.startswith("1"):
        raw = raw[1:]
    if len(raw) != 10 or raw[0] in "01":  # NANP: area codes start with 2-9
        return None
    return "+1" + raw


def display_phone(e164: str) -> str:
    """A number as its owner reads it back: `(415) 555-0123` in North America, else as E.164."""
    if len(e164) == 12 and e164.startswith("+1"):
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


def normalize_name(text: str) -> str | None:
    """The name as typed, spaces collapsed; None if empty, too long, or with control characters."""
    name = " ".join(text.split())
    if not name or len(name) > 100 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return name


def same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def clean_code(text: str) -> str | None:
    """The code as typed (spaces and dashes ignored), or None if it is not CODE_DIGITS digits."""
    code = re.sub(r"[\s-]", "", text)[: CODE_DIGITS + 8]
    return code if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else None


# --- the code ------------------------------------------------------------------------------------


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(key: bytes, purpose: str, *parts: str) -> str:
    """A keyed digest (HMAC-SHA256): a code or a number kept for comparison only. Keyed, because a
    six-digit code or a phone number is quickly found from a plain hash."""
    return hmac.new(key, "\n".join((purpose, *parts)).encode(), hashlib.sha256).hexdigest()


def code_digest(key: bytes, verification_id: str, code: str) -> str:
    return digest(key, "booking-code", verification_id, code)


def code_matches(keys: Sequence[bytes], verification_id: str, code: str, stored: str) -> bool:
    """Whether `code` is the one whose digest is stored (any of the keys: rotation)."""
    return any(hmac.compare_digest(code_digest(k, verification_id, code), stored) for k in keys if k)


@dataclass(frozen=True)
class CodeState:
    status: Status
    attempts: int  # wrong codes so far
    expires_at: datetime


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    attempts: int  # wrong codes after this one
    status: Status  # the attempt's status after this one

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_ATTEMPTS - self.attempts)


def judge(state: CodeState, matches: bool, now: datetime) -> Verdict:
    """One code typed on the page. Only a pending attempt still within its hold counts; a right code
    confirms; a wrong one counts, and the last allowed wrong one locks the attempt (hold released)."""
    if state.status != "pending":
        return Verdict("closed", state.attempts, state.status)
    if now >= state.expires_at:
        return Verdict("expired", state.attempts, "expired")
    if state.attempts >= MAX_ATTEMPTS:  # cannot happen for a pending row; kept safe anyway
        return Verdict("locked", state.attempts, "locked")
    if matches:
        return Verdict("confirm", state.attempts, "confirmed")
    attempts = state.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        return Verdict("locked", attempts, "locked")
    return Verdict("wrong", attempts, "pending")


# --- abuse limits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """At most `count` events in any `window` of elapsed time (half-open: (t - window, t])."""

    count: int
    window: timedelta


# Codes sent to one number: a few tries, not a way to flood someone's phone.
PHONE_LIMITS = (Limit(3, timedelta(hours=1)), Limit(6, timedelta(days=1)))
# Holds (and codes) from one client address: a household or an office, not a script hoarding slots.
ADDRESS_LIMITS = (Limit(10, timedelta(hours=1)), Limit(30, timedelta(days=1)))
LOOKBACK = max(limit.window for limit in PHONE_LIMITS + ADDRESS_LIMITS)


def in_window(previous: Sequence[datetime], at: datetime, window: timedelta) -> int:
    return sum(1 for t in previous if at - window < t <= at)


def retry_at(previous: Sequence[datetime], now: datetime, limits: Sequence[Limit]) -> datetime | None:
    """None if one more event now stays within every limit; else the first instant it would."""
    latest: datetime | None = None
    for limit in limits:
        recent = sorted(t for t in previous if now - limit.window < t <= now)
        excess = len(recent) - limit.count + 1
        if excess > 0:
            allowed = recent[excess - 1] + limit.window  # once the excess oldest have aged out
            latest = allowed if latest is None else max(latest, allowed)
    return latest


def limit_key(key: bytes, kind: str, value: str) -> str:
    """What a limit counts under: a digest of the number or address, never the value itself."""
    return digest(key, "booking-limit", kind, value)[:40]


def type_fits(patients: Literal["any", "new", "existing"], is_new: bool) -> bool:
    return patients == "any" or (patients == "new") == is_new


# --- the form token (every step's form carries it) -----------------------------------------------


@dataclass(frozen=True)
class Entry:
    """Which clinic's page the form belongs to, and the booking link it came from (if any)."""

    clinic_id: str
    link_id: str | None
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _entry_mac(key: bytes, clinic: str, link: str, expires: str) -> str:
    return _b64(hmac.new(key, f"booking-form.{clinic}.{link}.{expires}".encode(), hashlib.sha256).digest()[:16])


def sign_entry(key: bytes, entry: Entry) -> str:
    clinic = _b64(entry.clinic_id.encode())
    link = entry.link_id or "-"
    expires = str(int(entry.expires_at.timestamp()))
    return f"{clinic}.{link}.{expires}.{_entry_mac(key, clinic, link, expires)}"


def open_entry(keys: Sequence[bytes], token: str, now: datetime) -> Entry | None:
    """The entry a form token names, if one of `keys` signed it and it has not expired."""
    parts = token.split(".")
    if len(token) > 400 or len(parts) != 4 or not parts[2].isdigit():
        return None
    clinic, link, expires, mac = parts
    if not any(hmac.compare_digest(_entry_mac(k, clinic, link, expires), mac) for k in keys if k):
        return None
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if now >= expires_at:
        return None
    try:
        clinic_id = _unb64(clinic).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return Entry(clinic_id, None if link == "-" else link, expires_at)
