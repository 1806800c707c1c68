"""The contact policy for a caller's number (a booking link the caller asked for on the phone): an
opt-out of the number always wins; otherwise quiet hours, the caps over what the number was sent and
the clinic's daily limit, as for every message, and never past the link's expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain.caps import DEFAULT_CAPS, within_caps
from frontdesk.followup.domain.clinic_limit import DailyLimit
from frontdesk.followup.domain.policy import Recipient, decide_for_caller
from frontdesk.followup.domain.quiet_hours import FEDERAL

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 10:00 in New York
NY = ZoneInfo("America/New_York")
CALLER = Recipient(reachable=True, zone=NY, rule=FEDERAL)
THREE_DAYS = timedelta(days=3)


def limit(sent_today: int = 0, cap: int = 100) -> DailyLimit:
    return DailyLimit(cap, sent_today, NY)


def test_the_request_is_the_consent_an_opt_out_wins() -> None:
    common = {"recipient": CALLER, "sent_to_number": [], "expires_at": T0 + THREE_DAYS, "clinic_limit": limit()}
    sent = decide_for_caller(now=T0, number_opted_out=False, **common)  # type: ignore[arg-type]
    assert sent.send_now and sent.send_at == T0
    assert decide_for_caller(now=T0, number_opted_out=True, **common).skip == "opted_out"  # type: ignore[arg-type]


def test_quiet_hours_caps_and_the_clinic_limit_defer_within_the_links_life() -> None:
    night = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 22:00 in New York: waits for 08:00
    d = decide_for_caller(
        now=night, number_opted_out=False, recipient=CALLER, sent_to_number=[], expires_at=night + THREE_DAYS,
        clinic_limit=limit(),
    )  # fmt: skip
    assert d.send_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    d = decide_for_caller(
        now=T0, number_opted_out=False, recipient=CALLER, sent_to_number=[T0 - timedelta(hours=1)],
        expires_at=T0 + THREE_DAYS, clinic_limit=limit(),
    )  # fmt: skip
    assert d.send_at == T0 + timedelta(hours=23)  # one a day per number
    d = decide_for_caller(
        now=T0, number_opted_out=False, recipient=CALLER, sent_to_number=[], expires_at=T0 + timedelta(hours=2),
        clinic_limit=limit(sent_today=100),
    )  # fmt: skip
    assert d.skip == "frequency_cap"  # the clinic's day is spent and the link would be gone before tomorrow


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(0, 7 * 24 * 60),
    history=st.lists(st.integers(1, 8 * 24 * 60), max_size=5),
    opted_out=st.booleans(),
    life_hours=st.integers(1, 72),
)
def test_never_quiet_never_capped_never_late_never_opted_out(
    minutes: int, history: list[int], opted_out: bool, life_hours: int
) -> None:
    now = T0 + timedelta(minutes=minutes)
    sent = [now - timedelta(minutes=m) for m in history]
    expires = now + timedelta(hours=life_hours)
    d = decide_for_caller(
        now=now, number_opted_out=opted_out, recipient=CALLER, sent_to_number=sent, expires_at=expires,
        clinic_limit=limit(),
    )  # fmt: skip
    if opted_out:
        assert d.skip == "opted_out"
        return
    if d.skip is not None:
        assert d.skip in ("expired", "frequency_cap")
        return
    assert d.send_at is not None and now <= d.send_at < expires
    assert FEDERAL.allows(d.send_at, NY)
    assert within_caps(sent, d.send_at, DEFAULT_CAPS["treatment"])
