"""Quiet hours in the recipient's zone: never inside them, and deferral to the *next* allowed minute."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain.quiet_hours import (
    FEDERAL,
    STATE_RULES,
    DailyWindow,
    QuietRule,
    first_instant_at_or_after_wall,
    next_allowed,
    rule_for,
)

NY = ZoneInfo("America/New_York")
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Phoenix",
    "Pacific/Honolulu",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Europe/London",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Havana",
    "Asia/Beirut",
    "America/Nuuk",
    "Pacific/Apia",
    "UTC",
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 11, 27, 15, 0), utc(2026, 11, 27, 15, 0)),  # 10:00 EST: allowed, unchanged
        (utc(2026, 11, 27, 12, 59, 30), utc(2026, 11, 27, 13, 0)),  # 07:59:30 -> 08:00
        (utc(2026, 11, 28, 2, 0), utc(2026, 11, 28, 13, 0)),  # 21:00 EST: the next morning at 8
        (utc(2026, 11, 28, 1, 59, 59), utc(2026, 11, 28, 1, 59, 59)),  # 20:59:59: still allowed
        # Spring forward (2026-03-08): 8:00 EDT is 12:00 UTC.
        (utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 12, 0)),
        # Fall back (2026-11-01): 8:00 EST is 13:00 UTC.
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 13, 0)),
    ],
)
def test_federal_rule_in_new_york(at: datetime, expected: datetime) -> None:
    assert next_allowed(at, NY, FEDERAL) == expected


def test_stricter_states() -> None:
    # 20:30 in Miami is allowed federally, not in Florida.
    at = utc(2026, 11, 28, 1, 30)
    assert next_allowed(at, NY, FEDERAL) == at
    assert next_allowed(at, NY, rule_for("FL")) == utc(2026, 11, 28, 13, 0)
    # Connecticut starts at 9.
    assert next_allowed(utc(2026, 11, 27, 13, 30), NY, rule_for("CT")) == utc(2026, 11, 27, 14, 0)
    # Texas on a Sunday morning waits for noon (2026-11-29 is a Sunday; Chicago is UTC-6).
    chicago = ZoneInfo("America/Chicago")
    assert next_allowed(utc(2026, 11, 29, 16, 0), chicago, rule_for("TX")) == utc(2026, 11, 29, 18, 0)
    # An unknown or lenient state keeps the federal rule.
    assert rule_for("NY") == FEDERAL
    assert rule_for(None) == FEDERAL


def test_clinic_rule_only_narrows() -> None:
    clinic = QuietRule.uniform(time(7), time(22))  # looser than federal: ignored where looser
    assert rule_for(None, [clinic]) == FEDERAL
    narrow = QuietRule.uniform(time(10), time(18))
    assert rule_for("CT", [narrow]).windows[0] == DailyWindow(time(10), time(18))


def test_a_day_with_no_window_is_skipped() -> None:
    no_sunday = QuietRule((*FEDERAL.windows[:6], None))
    saturday_night = utc(2026, 11, 29, 2, 30)  # Sat 21:30 EST
    assert next_allowed(saturday_night, NY, no_sunday) == utc(2026, 11, 30, 13, 0)  # Monday 8:00


def test_a_rule_that_never_allows_raises() -> None:
    with pytest.raises(ValueError, match="no contact"):
        next_allowed(utc(2026, 1, 1), NY, QuietRule((None,) * 7))


def test_a_wall_time_inside_a_spring_forward_gap_means_the_end_of_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08; the first instant at or after it is 03:00 EDT.
    assert first_instant_at_or_after_wall(date(2026, 3, 8), time(2, 30), NY) == utc(2026, 3, 8, 7, 0)
    # A repeated wall time (fall back) means its first occurrence.
    assert first_instant_at_or_after_wall(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)


rules = st.sampled_from([FEDERAL, *STATE_RULES.values(), QuietRule.uniform(time(10), time(16))])
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 1), timezones=st.just(UTC))


@settings(max_examples=300)
@given(at=instants, zone=st.sampled_from(ZONES).map(ZoneInfo), rule=rules)
def test_never_in_quiet_hours_and_never_later_than_needed(at: datetime, zone: ZoneInfo, rule: QuietRule) -> None:
    assert_next_allowed(at, zone, rule)


@functools.cache
def offset_changes(zone: str, year: int) -> tuple[datetime, ...]:
    """The UTC days of `year` in which the zone's offset changes, each by its noon (within 12 h of it)."""
    tz, day = ZoneInfo(zone), timedelta(days=1)
    at, changes = datetime(year, 1, 1, tzinfo=UTC), []
    while at.year == year:
        if (at + day).astimezone(tz).utcoffset() != at.astimezone(tz).utcoffset():
            changes.append(at + day / 2)
        at += day
    return tuple(changes)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[datetime, ZoneInfo]:
    """Any zone, an instant within a day and a half of one of its offset changes (DST, or a zone's
    offset moving for good), where a random instant would almost never fall."""
    zone = draw(st.sampled_from(sorted(available_timezones())))
    changes = offset_changes(zone, draw(st.integers(2020, 2032)))
    base = draw(st.sampled_from(changes)) if changes else datetime(2026, 3, 29, tzinfo=UTC)
    return base + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60))), ZoneInfo(zone)


@settings(max_examples=200, deadline=None)
@given(case=near_a_change(), rule=rules)
def test_around_any_zones_offset_changes_too(case: tuple[datetime, ZoneInfo], rule: QuietRule) -> None:
    """Casablanca's Ramadan, Lord Howe's half hour, Troll's two hours, Chatham, St John's, ..."""
    assert_next_allowed(*case, rule)


def assert_next_allowed(at: datetime, zone: ZoneInfo, rule: QuietRule) -> None:
    result = next_allowed(at, zone, rule)
    assert result >= at
    assert rule.allows(result, zone)
    local = result.astimezone(zone)
    window = rule.windows[local.weekday()]
    assert window is not None and window.start <= local.time() < window.end
    if result != at:
        # Nothing allowed in between, checked minute by minute: it is the *next* allowed minute.
        probe = at
        while probe < result:
            assert not rule.allows(probe, zone), probe
            probe += timedelta(minutes=1)
        assert result.second == 0 or result.astimezone(zone).second == 0
