"""Open hours: weekday hours, time zones, closures and DST, judged in the clinic's own zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.call_router.domain import is_open
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.clinic import WEEKDAYS

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAY_HOURS = ["08:00-12:00", "13:00-17:00"]  # split hours: closed over lunch


def clinic(
    timezone: str = "America/New_York",
    hours: dict[str, list[str]] | None = None,
    closures: list[str] | None = None,
    **phone: object,
) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "clinic-1",
            "name": "Test Clinic",
            "timezone": timezone,
            "hours": hours
            if hours is not None
            else {day: WEEKDAY_HOURS for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["09:00-12:00"]},
            "closures": closures or [],
            "phone": {"front_desk_pool": "desk-pool", "answering_service": "after-hours-co", **phone},
        }
    )


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- weekday hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "second", "expected"),
    [
        (7, 59, 59, False),
        (8, 0, 0, True),  # opening time is inside
        (11, 59, 59, True),
        (12, 0, 0, False),  # closing time is outside: [opens, closes)
        (12, 30, 0, False),  # lunch
        (13, 0, 0, True),
        (16, 59, 59, True),
        (17, 0, 0, False),
        (23, 0, 0, False),
        (0, 0, 0, False),
    ],
)
def test_split_weekday_hours(hour: int, minute: int, second: int, expected: bool) -> None:
    monday = local("America/New_York", 2026, 11, 30, hour, minute, second)
    assert monday.weekday() == 0
    assert is_open(clinic(), monday) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2026, 11, 28), True), (date(2026, 11, 29), False)],  # Saturday morning hours, Sunday none
)
def test_each_weekday_has_its_own_hours(day: date, expected: bool) -> None:
    at = datetime.combine(day, time(10, 0), tzinfo=NEW_YORK)
    assert is_open(clinic(), at) is expected
    assert is_open(clinic(), at.replace(hour=13)) is False  # Saturday closes at noon


def test_no_hours_at_all_means_always_closed() -> None:
    assert is_open(clinic(hours={}), utc(2026, 11, 30, 15)) is False


def test_every_weekday_name_maps_to_its_day() -> None:
    monday = date(2026, 11, 30)
    for offset, name in enumerate(WEEKDAYS):
        day = monday + timedelta(days=offset)
        only_today = clinic(hours={name: ["00:00-23:59"]})
        assert is_open(only_today, datetime.combine(day, time(12), tzinfo=NEW_YORK))
        assert not is_open(only_today, datetime.combine(day + timedelta(days=1), time(12), tzinfo=NEW_YORK))


# --- time zones ---------------------------------------------------------------------------------


def test_the_same_instant_is_judged_in_each_clinics_own_zone() -> None:
    instant = utc(2026, 11, 30, 14, 0)  # Monday 09:00 New York, 23:00 Tokyo, 14:00 London
    assert is_open(clinic("America/New_York"), instant)
    assert not is_open(clinic("Asia/Tokyo"), instant)
    assert is_open(clinic("Europe/London"), instant)
    assert not is_open(clinic("America/Los_Angeles"), instant)  # 06:00


def test_the_local_weekday_counts_not_the_utc_weekday() -> None:
    sunday_utc = utc(2026, 11, 29, 22, 0)  # Sunday in UTC, Monday 09:00 in Sydney (AEDT, +11)
    assert sunday_utc.weekday() == 6
    assert is_open(clinic("Australia/Sydney"), sunday_utc)
    honolulu = clinic("Pacific/Honolulu", hours={"mon": ["00:00-23:59"]})  # UTC-10
    assert not is_open(honolulu, utc(2026, 11, 30, 9, 0))  # Monday in UTC, Sunday 23:00 in Honolulu
    assert is_open(honolulu, utc(2026, 11, 30, 16, 0))  # Monday 06:00 in Honolulu


def test_half_hour_offsets() -> None:
    kolkata = clinic("Asia/Kolkata")  # +05:30
    assert not is_open(kolkata, utc(2026, 11, 30, 2, 29, 59))  # 07:59:59 local
    assert is_open(kolkata, utc(2026, 11, 30, 2, 30))  # 08:00 local


def test_an_instant_with_any_offset_is_converted_first() -> None:
    # 09:00 in New York, written as a Tokyo time (23:00 +09:00) and as a fixed offset.
    assert is_open(clinic(), local("Asia/Tokyo", 2026, 11, 30, 23, 0))
    assert is_open(clinic(), datetime.fromisoformat("2026-11-30T15:00:00+01:00"))


# --- closures -----------------------------------------------------------------------------------


def test_a_closure_closes_the_whole_local_day() -> None:
    christmas_eve = clinic(closures=["2026-12-24"])  # a Thursday
    for hour in (8, 10, 13, 16):
        assert not is_open(christmas_eve, local("America/New_York", 2026, 12, 24, hour))
    assert is_open(christmas_eve, local("America/New_York", 2026, 12, 23, 10))
    assert is_open(christmas_eve, local("America/New_York", 2026, 12, 28, 10))


def test_a_closure_is_the_clinics_local_date_even_when_the_utc_date_differs() -> None:
    sydney = clinic("Australia/Sydney", closures=["2026-12-01"])  # a Tuesday
    # 2026-11-30 23:00 UTC is Tuesday 2026-12-01 10:00 in Sydney: the closure applies.
    assert not is_open(sydney, utc(2026, 11, 30, 23, 0))
    # 2026-12-01 22:00 UTC is Wednesday 2026-12-02 09:00 in Sydney: open, though the UTC date is the 1st.
    assert is_open(sydney, utc(2026, 12, 1, 22, 0))
    los_angeles = clinic("America/Los_Angeles", hours={"thu": ["08:00-20:00"]}, closures=["2026-12-24"])
    # 2026-12-25 02:00 UTC is Thursday 2026-12-24 18:00 in Los Angeles: the closure applies.
    assert not is_open(los_angeles, utc(2026, 12, 25, 2, 0))
    assert is_open(clinic("America/Los_Angeles", hours={"thu": ["08:00-20:00"]}), utc(2026, 12, 25, 2, 0))


# --- daylight saving time (America/New_York: 2026-03-08 spring forward, 2026-11-01 fall back) ----


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2026, 3, 9, 12, 0, 1), True),  # Monday 08:00:01 EDT, the day after spring-forward (07:00:01 EST)
        (utc(2026, 3, 9, 11, 59, 59), False),  # 07:59:59 EDT
        (utc(2026, 3, 6, 13, 0, 1), True),  # the Friday before: 08:00:01 EST
        (utc(2026, 3, 6, 12, 0, 1), False),  # 07:00:01 EST
        (utc(2026, 11, 2, 13, 0, 1), True),  # Monday 08:00:01 EST, the day after fall-back
        (utc(2026, 11, 2, 12, 30), False),  # 07:30 EST (08:30 if EDT were still assumed)
        (utc(2026, 10, 30, 12, 0, 1), True),  # the Friday before: 08:00:01 EDT
        (utc(2026, 11, 2, 21, 59, 59), True),  # 16:59:59 EST
        (utc(2026, 11, 2, 22, 0), False),  # 17:00 EST
    ],
)
def test_dst_transitions_in_new_york(instant: datetime, expected: bool) -> None:
    assert is_open(clinic(), instant) is expected


def test_hours_during_the_transition_night_itself() -> None:
    night = clinic(hours={"sun": ["01:00-04:00"]})
    # Spring forward: 01:30 EST, 03:30 EDT are open; 02:xx does not exist locally.
    assert is_open(night, utc(2026, 3, 8, 6, 30))
    assert is_open(night, utc(2026, 3, 8, 7, 30))
    assert not is_open(night, utc(2026, 3, 8, 8, 0))  # 04:00 EDT
    # Fall back: 01:30 happens twice (EDT, then EST) and both are open.
    assert is_open(night, utc(2026, 11, 1, 5, 30))
    assert is_open(night, utc(2026, 11, 1, 6, 30))
    assert is_open(night, utc(2026, 11, 1, 8, 59))  # 03:59 EST
    assert not is_open(night, utc(2026, 11, 1, 9, 0))  # 04:00 EST


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe"])
def test_a_clinic_open_all_day_has_no_gap_at_midnight(zone: str) -> None:
    """00:00-24:00 every day: open at every second, 23:59:59 included (00:00-23:59 left a minute out)."""
    always = clinic(zone, hours={d: ["00:00-24:00"] for d in WEEKDAYS})
    day = date(2026, 12, 7)
    for moment in (time(0), time(12), time(23, 59), time(23, 59, 59)):
        assert is_open(always, datetime.combine(day, moment, tzinfo=ZoneInfo(zone)))


def test_hours_past_midnight_are_two_ranges_that_meet() -> None:
    night = clinic(hours={"mon": ["22:00-24:00"], "tue": ["00:00-06:00"]})
    assert not is_open(night, local("America/New_York", 2026, 12, 7, 21, 59, 59))
    assert is_open(night, local("America/New_York", 2026, 12, 7, 23, 59, 59))
    assert is_open(night, local("America/New_York", 2026, 12, 8, 0, 0))
    assert not is_open(night, local("America/New_York", 2026, 12, 8, 6, 0))


def test_hours_across_midnight_in_one_range_are_refused_saying_how_to_write_them() -> None:
    with pytest.raises(ValueError, match="hours past midnight are two ranges"):
        clinic(hours={"mon": ["22:00-06:00"]})
