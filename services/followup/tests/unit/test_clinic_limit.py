"""The clinic's daily message limit: a spent budget defers to the clinic's next local day (DST too),
or skips a message that would expire first; an unspent one changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain.clinic_limit import DailyLimit, day_start, next_day_start
from frontdesk.followup.domain.consent import ConsentEntry
from frontdesk.followup.domain.policy import Recipient, decide
from frontdesk.followup.domain.quiet_hours import FEDERAL

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 10:00 in New York
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def granted() -> list[ConsentEntry]:
    return [ConsentEntry(p, True, T0 - timedelta(days=30), "registration") for p in ("treatment", "feedback")]


def test_days_are_the_clinics_local_days_across_dst() -> None:
    assert day_start(T0, NY) == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert next_day_start(T0, NY) == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
    # 2026-03-08: New York springs forward; the day is 23 hours long.
    spring = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert next_day_start(spring, NY) - day_start(spring, NY) == timedelta(hours=23)
    # 2026-11-01: falls back; 25 hours.
    fall = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert next_day_start(fall, NY) - day_start(fall, NY) == timedelta(hours=25)


def test_a_budget_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        DailyLimit(limit=0, sent_today=0, zone=NY)


def test_within_the_budget_nothing_changes() -> None:
    limit = DailyLimit(limit=3, sent_today=2, zone=NY)
    d = decide(
        now=T0,
        purpose="feedback",
        ledger=granted(),
        recipient=Recipient(True, NY, FEDERAL),
        sent_same_purpose=[],
        clinic_limit=limit,
    )
    assert d.send_now and d.send_at == T0


def test_a_spent_budget_waits_for_the_next_day_then_quiet_hours() -> None:
    limit = DailyLimit(limit=3, sent_today=3, zone=NY)
    d = decide(
        now=T0,
        purpose="feedback",
        ledger=granted(),
        recipient=Recipient(True, NY, FEDERAL),
        sent_same_purpose=[],
        clinic_limit=limit,
    )
    # Midnight in New York, then the federal quiet hours hold it until 08:00.
    assert d.skip is None and d.send_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    # Already for tomorrow: today's count does not apply.
    later = T0 + timedelta(days=1)
    d = decide(
        now=T0,
        purpose="feedback",
        ledger=granted(),
        recipient=Recipient(True, NY, FEDERAL),
        sent_same_purpose=[],
        not_before=later,
        clinic_limit=limit,
    )
    assert d.send_at == later


def test_a_spent_budget_skips_what_would_expire_first() -> None:
    d = decide(
        now=T0,
        purpose="treatment",
        ledger=granted(),
        recipient=Recipient(True, NY, FEDERAL),
        sent_same_purpose=[],
        expires_at=T0 + timedelta(hours=6),
        clinic_limit=DailyLimit(limit=1, sent_today=5, zone=NY),
    )
    assert d.skip == "frequency_cap" and "daily message limit (1)" in d.detail


@settings(max_examples=300)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    limit=st.integers(1, 5),
    sent_today=st.integers(0, 8),
)
def test_a_message_never_goes_out_on_a_day_whose_budget_is_spent(
    now: datetime, zone: ZoneInfo, limit: int, sent_today: int
) -> None:
    common = {
        "now": now,
        "purpose": "feedback",
        "ledger": [ConsentEntry("feedback", True, now - timedelta(days=1), "staff")],
        "recipient": Recipient(True, zone, FEDERAL),
        "sent_same_purpose": [],
    }
    d = decide(**common, clinic_limit=DailyLimit(limit=limit, sent_today=sent_today, zone=zone))  # type: ignore[arg-type]
    assert d.send_at is not None
    if sent_today >= limit:
        assert d.send_at >= next_day_start(now, zone)
    else:
        assert d == decide(**common)  # type: ignore[arg-type]
