"""Reminder offsets: days in the calendar of the appointment's zone, hours in elapsed time, near every
UTC offset change 2020-2032 of every IANA zone."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.common.contracts import ClinicConfig
from frontdesk.scheduler.domain import booking as domain

EVERY_ZONE = sorted(available_timezones())
UNUSUAL = [
    "Asia/Kathmandu",  # +05:45, no DST
    "Australia/Lord_Howe",  # +10:30 / +11:00: a 30-minute DST
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",  # changes at 24:00
    "Asia/Tehran",  # DST until 2022, none since
    "Africa/Casablanca",  # leaves DST for Ramadan each year
    "Europe/Dublin",  # negative DST in the rules
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
]
FIRST, LAST = datetime(2020, 1, 1, tzinfo=UTC), datetime(2033, 1, 1, tzinfo=UTC)


@functools.cache
def offset_changes(key: str) -> tuple[datetime, ...]:
    """Every instant 2020-2032 at which the zone's UTC offset changes, to the minute."""
    zone, changes = ZoneInfo(key), []
    before, at = FIRST, FIRST + timedelta(hours=6)
    while at < LAST:
        if before.astimezone(zone).utcoffset() != at.astimezone(zone).utcoffset():
            low, high = before, at
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            changes.append(high.replace(second=0, microsecond=0))
        before, at = at, at + timedelta(hours=6)
    return tuple(changes)


def expected_due(start: datetime, days: int, elapsed: timedelta, zone: ZoneInfo) -> datetime:
    """The oracle, by search rather than by fold: the wall time `days` before, as the first instant
    that reads it; if none does (a gap), that wall time read with the UTC offset before the gap."""
    wall = start.astimezone(zone).replace(tzinfo=None) - timedelta(days=days)
    if days == 0:
        return start - elapsed
    offsets = {(wall.replace(tzinfo=UTC) + timedelta(hours=h)).astimezone(zone).utcoffset() for h in range(-30, 31)}
    readers = sorted(
        instant
        for instant in (wall.replace(tzinfo=UTC) - offset for offset in offsets if offset is not None)
        if instant.astimezone(zone).replace(tzinfo=None) == wall
    )
    if readers:
        return readers[0] - elapsed
    offset_before = (wall.replace(tzinfo=UTC) - timedelta(days=1)).astimezone(zone).utcoffset()
    assert offset_before is not None
    return wall.replace(tzinfo=UTC) - offset_before - elapsed


@st.composite
def near_a_change(draw: st.DrawFn, zones: list[str]) -> tuple[ZoneInfo, datetime]:
    """A zone and an appointment start within three weeks after one of its offset changes (anywhere
    in 2020-2032 for a zone that has none), so reminders days before it straddle the change."""
    key = draw(st.sampled_from(zones))
    changes = offset_changes(key)
    if changes:
        anchor = draw(st.sampled_from(changes))
        start = anchor + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 21 * 24 * 60)))
    else:
        start = FIRST + timedelta(minutes=draw(st.integers(0, 12 * 365 * 24 * 60)))
    return ZoneInfo(key), start.replace(minute=start.minute - start.minute % 5)


OFFSETS = st.builds(
    lambda weeks, days, hours, minutes: (
        f"P{weeks}W" if weeks else f"P{days}D" + (f"T{hours}H{minutes}M" if hours or minutes else "")
    ),
    st.integers(0, 3),
    st.integers(0, 21),
    st.integers(0, 30),
    st.integers(0, 59),
).filter(lambda text: text != "P0D")


def check(zone: ZoneInfo, start: datetime, offset: str) -> None:
    parts = domain.parse_offset(offset)
    due = domain.reminder_due_at(start, offset, zone)
    assert due == expected_due(start, parts.days, parts.elapsed, zone)
    assert due.tzinfo is UTC and due < start
    wall = start.astimezone(zone).replace(tzinfo=None) - timedelta(days=parts.days)
    local = (due + parts.elapsed).astimezone(zone).replace(tzinfo=None)
    # The wall time itself, or (in a gap) at most the gap later; never an elapsed-time day count.
    assert timedelta(0) <= local - wall <= timedelta(hours=3)


@settings(max_examples=1500, deadline=None)
@given(near_a_change(EVERY_ZONE), OFFSETS)
def test_days_count_in_the_zone_calendar_and_hours_in_elapsed_time_in_every_zone(
    case: tuple[ZoneInfo, datetime], offset: str
) -> None:
    check(*case, offset)


@pytest.mark.parametrize("key", UNUSUAL)
@settings(max_examples=300, deadline=None)
@given(data=st.data(), offset=OFFSETS)
def test_days_count_in_the_zone_calendar_in_zones_with_unusual_offsets(
    key: str, data: st.DataObject, offset: str
) -> None:
    check(*data.draw(near_a_change([key])), offset)


@settings(max_examples=500, deadline=None)
@given(near_a_change(UNUSUAL), st.lists(OFFSETS, min_size=1, max_size=4, unique=True))
def test_the_schedule_is_in_order_and_keeps_only_reminders_still_ahead(
    case: tuple[ZoneInfo, datetime], offsets: list[str]
) -> None:
    zone, start = case
    now = start - timedelta(days=3)
    schedule = domain.reminder_schedule(start, offsets, now, zone)
    assert [due for _, due in schedule] == sorted(due for _, due in schedule)
    assert {offset for offset, _ in schedule} == {o for o in offsets if domain.reminder_due_at(start, o, zone) > now}
    assert schedule == domain.reminder_schedule(start, offsets, now, zone)  # stable for the same start


@pytest.mark.parametrize(
    ("key", "start", "offset", "due_local"),
    [
        # New York springs forward on 2027-03-14: two days before Monday 09:00 EDT is Saturday 09:00 EST.
        ("America/New_York", "2027-03-15T09:00", "P2D", "2027-03-13T09:00-05:00"),
        ("America/New_York", "2027-11-08T09:00", "P7D", "2027-11-01T09:00-04:00"),
        ("America/New_York", "2027-03-15T09:00", "P1DT2H", "2027-03-14T07:00-04:00"),
        ("America/New_York", "2027-03-15T09:00", "PT48H", "2027-03-13T08:00-05:00"),  # hours: elapsed
        ("Australia/Lord_Howe", "2027-04-05T09:00", "P2D", "2027-04-03T09:00+11:00"),
        ("Asia/Kathmandu", "2027-03-15T09:00", "P1W", "2027-03-08T09:00+05:45"),
        # 02:30 does not exist on 2027-03-14 in New York: read with EST, it is 03:30 EDT.
        ("America/New_York", "2027-03-16T02:30", "P2D", "2027-03-14T03:30-04:00"),
        # 01:30 happens twice on 2027-11-07: the first, in EDT.
        ("America/New_York", "2027-11-09T01:30", "P2D", "2027-11-07T01:30-04:00"),
    ],
)
def test_reminder_due_at_examples(key: str, start: str, offset: str, due_local: str) -> None:
    zone = ZoneInfo(key)
    starts_at = datetime.fromisoformat(start).replace(tzinfo=zone)
    assert domain.reminder_due_at(starts_at, offset, zone) == datetime.fromisoformat(due_local)


def test_the_reminders_of_a_provider_elsewhere_count_days_in_the_provider_zone() -> None:
    """A New York clinic's London provider: London's calendar, whose DST changes on another date."""
    clinic = ClinicConfig.model_validate(
        {
            "clinic_id": "clinic-1",
            "name": "Test Clinic",
            "timezone": "America/New_York",
            "phone": {"answering_service": "answering-1"},
            "providers": [{"provider_id": "dr-khan", "timezone": "Europe/London"}],
        }
    )
    london = clinic.zone_of("dr-khan")
    start = datetime(2027, 3, 29, 9, tzinfo=london)  # the Monday after London springs forward
    schedule = domain.reminder_schedule(start, ["P2D"], start - timedelta(days=30), london)
    assert schedule == [("P2D", datetime(2027, 3, 27, 9, tzinfo=UTC))]  # 09:00 GMT
