"""The contact policy: the one place that decides whether, and when, a patient may be contacted.

Order of the checks: contact details, consent for the purpose (an opt-out always wins), then the
earliest instant that is within the clinic's daily message limit, outside quiet hours (recipient's
zone) and within the frequency caps; if that instant is at or past the message's expiry the message
is skipped instead of sent late.
The same decision is taken again at the moment of sending, so a STOP or another message that went
out in between is always taken into account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from . import consent
from .caps import DEFAULT_CAPS, Cap, clear_of_caps, within_caps
from .clinic_limit import DailyLimit
from .consent import ConsentEntry
from .quiet_hours import QuietRule, next_allowed

Skip = Literal["no_consent", "opted_out", "frequency_cap", "no_contact_details", "expired"]


@dataclass(frozen=True)
class Recipient:
    reachable: bool  # has an address on some channel
    zone: ZoneInfo  # the recipient's own zone (falls back to the clinic's)
    rule: QuietRule  # quiet-hours rule for the recipient (federal + state + clinic)
    # Where the recipient may be instead, their own zone not being on file (the clinic's locations in
    # other zones): the rule must allow the time in each.
    other_zones: tuple[ZoneInfo, ...] = ()

    def allowed_from(self, at: datetime) -> datetime:
        """The first instant >= `at` that the rule allows in every zone the recipient may be in."""
        zones = (self.zone, *self.other_zones)
        # Each pass moves to some zone's next window, never past the first instant all allow: the
        # passes settle on it (a bound for rules with no common window at all).
        for _ in range(64):
            start = at
            for zone in zones:
                at = next_allowed(at, zone, self.rule)
            if at == start:
                return at
        raise ValueError("the quiet-hours rule allows no contact in all of the recipient's zones")


@dataclass(frozen=True)
class Decision:
    send_at: datetime | None = None  # == now: send now; later: wait until then
    skip: Skip | None = None
    detail: str = ""

    @property
    def send_now(self) -> bool:
        return self.send_at is not None and self.skip is None


def earliest_send(
    at: datetime, recipient: Recipient, sent: Sequence[datetime], caps: Sequence[Cap], max_rounds: int = 20
) -> datetime:
    """The first instant >= `at` outside quiet hours and within the caps."""
    t = at
    for _ in range(max_rounds):
        t = recipient.allowed_from(t)
        cleared = clear_of_caps(sent, t, caps)
        if cleared == t:
            return t
        t = cleared
    raise ValueError("no instant satisfies both quiet hours and caps")  # pragma: no cover - caps clear


def decide(
    *,
    now: datetime,
    purpose: consent.Purpose,
    ledger: Sequence[consent.ConsentEntry],
    recipient: Recipient,
    sent_same_purpose: Sequence[datetime],
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    caps: Mapping[str, Sequence[Cap]] = DEFAULT_CAPS,
    clinic_limit: DailyLimit | None = None,
) -> Decision:
    now = now.astimezone(UTC)
    if not recipient.reachable:
        return Decision(skip="no_contact_details", detail="no phone or email on file")
    status = consent.state(ledger, purpose)
    if status == "opted_out":
        return Decision(skip="opted_out", detail=f"opted out of {purpose}")
    if status == "none":
        return Decision(skip="no_consent", detail=f"no {purpose} consent on file")
    requested = max(now, not_before.astimezone(UTC)) if not_before else now
    start = clinic_limit.earliest(now, requested) if clinic_limit else requested
    purpose_caps = tuple(caps.get(purpose, ()))
    try:
        when = earliest_send(start, recipient, sent_same_purpose, purpose_caps)
    except ValueError:
        return Decision(skip="expired", detail="quiet-hours rule allows no contact")
    if expires_at is not None and when >= expires_at:
        if start > requested:
            assert clinic_limit is not None
            detail = f"the clinic's daily message limit ({clinic_limit.limit}) was reached before it expired"
            return Decision(skip="frequency_cap", detail=detail)
        capped = not within_caps(sent_same_purpose, start, purpose_caps)
        reason: Skip = "frequency_cap" if capped else "expired"
        return Decision(skip=reason, detail="could not go out before it expired")
    return Decision(send_at=when)


def decide_for_caller(
    *,
    now: datetime,
    number_opted_out: bool,
    recipient: Recipient,
    sent_to_number: Sequence[datetime],
    expires_at: datetime,
    clinic_limit: DailyLimit,
    caps: Mapping[str, Sequence[Cap]] = DEFAULT_CAPS,
) -> Decision:
    """A treatment message a caller asked for on the phone (a booking link), to a number with no patient
    behind it: the request is the consent for this one message, and an opt-out of the number (STOP from
    any patient with it) always wins. Quiet hours, the caps (over what this number was sent) and the
    clinic's daily limit as for every message; skipped rather than sent after `expires_at`."""
    if number_opted_out:
        return Decision(skip="opted_out", detail="the number opted out of treatment messages")
    return decide(
        now=now,
        purpose="treatment",
        ledger=[ConsentEntry("treatment", True, now, "caller_request")],
        recipient=recipient,
        sent_same_purpose=sent_to_number,
        expires_at=expires_at,
        caps=caps,
        clinic_limit=clinic_limit,
    )
