"""The next-day check-in lands on 10:00 local on the next local day, whatever DST and UTC do."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.followup.domain import CHECK_IN_LOCAL_TIME, next_day_check_in

NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_the_default_check_in_time_is_ten_in_the_morning() -> None:
    assert time(10, 0) == CHECK_IN_LOCAL_TIME


@pytest.mark.parametrize(
    ("zone", "completed_at", "expected_utc"),
    [
        # An afternoon visit: tomorrow 10:00 local.
        ("America/New_York", utc(2026, 11, 27, 20, 0), utc(2026, 11, 28, 15, 0)),
        # A late-evening visit (22:30 EST = 03:30 UTC on the 28th): the next *local* day is the 28th,
        # not the 29th (which is the day after the UTC date).
        ("America/New_York", utc(2026, 11, 28, 3, 30), utc(2026, 11, 28, 15, 0)),
        # 23:59 local is still the same local day.
        ("America/Los_Angeles", utc(2026, 11, 28, 7, 59), utc(2026, 11, 28, 18, 0)),
        # East of UTC the local date runs ahead: 08:00 JST on the 27th is 23:00 UTC on the 26th.
        ("Asia/Tokyo", utc(2026, 11, 26, 23, 0), utc(2026, 11, 28, 1, 0)),
        # A visit just after local midnight waits for the following day, not the same morning.
        ("Europe/Berlin", utc(2026, 11, 26, 23, 5), utc(2026, 11, 28, 9, 0)),
        ("Asia/Kolkata", utc(2026, 11, 27, 18, 29), utc(2026, 11, 28, 4, 30)),  # 23:59 IST
        ("UTC", utc(2026, 11, 27, 23, 59, 59), utc(2026, 11, 28, 10, 0)),
    ],
)
def test_next_local_day_at_ten(zone: str, completed_at: datetime, expected_utc: datetime) -> None:
    due = next_day_check_in(completed_at, ZoneInfo(zone))
    assert due == expected_utc
    assert due.astimezone(ZoneInfo(zone)).time() == time(10, 0)


@pytest.mark.parametrize(
    ("zone", "completed_at", "expected_utc"),
    [
        # New York springs forward on 2026-03-08: 10:00 that day is EDT (14:00 UTC), not EST (15:00).
        ("America/New_York", utc(2026, 3, 7, 21, 0), utc(2026, 3, 8, 14, 0)),
        # ...and a visit late on the 7th (23:30 EST) still goes out on the 8th.
        ("America/New_York", utc(2026, 3, 8, 4, 30), utc(2026, 3, 8, 14, 0)),
        # A visit on the transition day itself goes out at 10:00 EDT on the 9th.
        ("America/New_York", utc(2026, 3, 8, 20, 0), utc(2026, 3, 9, 14, 0)),
        # New York falls back on 2026-11-01: 10:00 that day is EST (15:00 UTC).
        ("America/New_York", utc(2026, 10, 31, 20, 0), utc(2026, 11, 1, 15, 0)),
        # Both 01:30s of the fall-back night (EDT then EST) are on the 1st: check-in on the 2nd.
        ("America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 15, 0)),
        ("America/New_York", utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 15, 0)),
        # A late-evening visit the night before fall-back: 23:00 EDT on the 31st is 03:00 UTC on the 1st.
        ("America/New_York", utc(2026, 11, 1, 3, 0), utc(2026, 11, 1, 15, 0)),
        # London springs forward on 2026-03-29 (BST = UTC+1).
        ("Europe/London", utc(2026, 3, 28, 16, 0), utc(2026, 3, 29, 9, 0)),
        # Sydney springs forward on 2026-10-04 (AEST +10 -> AEDT +11).
        ("Australia/Sydney", utc(2026, 10, 3, 6, 0), utc(2026, 10, 3, 23, 0)),
    ],
)
def test_dst_changes_still_land_on_ten_local(zone: str, completed_at: datetime, expected_utc: datetime) -> None:
    due = next_day_check_in(completed_at, ZoneInfo(zone))
    assert due == expected_utc
    local = due.astimezone(ZoneInfo(zone))
    assert (local.time(), local.date()) == (time(10, 0), completed_at.astimezone(ZoneInfo(zone)).date() + timedelta(1))


def test_the_result_is_in_the_clinics_zone() -> None:
    due = next_day_check_in(utc(2026, 3, 7, 21, 0), NEW_YORK)
    assert due.isoformat() == "2026-03-08T10:00:00-04:00"
    assert next_day_check_in(utc(2026, 3, 6, 21, 0), NEW_YORK).isoformat() == "2026-03-07T10:00:00-05:00"


def test_the_input_offset_does_not_matter() -> None:
    instant = utc(2026, 11, 28, 3, 30)
    for written_as in (instant, instant.astimezone(NEW_YORK), instant.astimezone(ZoneInfo("Asia/Tokyo"))):
        assert next_day_check_in(written_as, NEW_YORK) == utc(2026, 11, 28, 15, 0)


def test_another_local_time_can_be_asked_for() -> None:
    due = next_day_check_in(utc(2026, 11, 27, 20, 0), NEW_YORK, at=time(16, 30))
    assert due == utc(2026, 11, 28, 21, 30)


ZONES = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
]


@given(
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    completed_at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.timezones() | st.just(UTC)
    ),
)
def test_always_ten_local_on_the_next_local_day(zone: ZoneInfo, completed_at: datetime) -> None:
    due = next_day_check_in(completed_at, zone)
    local_due = due.astimezone(zone)
    visit_day: date = completed_at.astimezone(zone).date()
    assert local_due.date() == visit_day + timedelta(days=1)
    assert local_due.time() == time(10, 0)
    # About 10 hours (a visit just before midnight) to 34 hours (just after), give or take a DST hour.
    elapsed = due.astimezone(UTC) - completed_at.astimezone(UTC)
    assert timedelta(hours=8) <= elapsed <= timedelta(hours=36)
