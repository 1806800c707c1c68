"""FHIR R4 search values as other systems send them (http://hl7.org/fhir/R4/search.html): dates of
any precision, with or without an offset, every prefix; references and tokens in all their forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.scheduler.domain import fhir

NY = ZoneInfo("America/New_York")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: its day starts on the previous UTC date


def window(*values: str, zone: ZoneInfo = NY) -> tuple[datetime, datetime]:
    found = fhir.date_range(list(values), zone, 31)
    assert not isinstance(found, str), found
    return found


def test_a_date_alone_is_that_whole_day_in_the_schedule_s_zone() -> None:
    assert window("2027-01-10") == (datetime(2027, 1, 10, tzinfo=NY), datetime(2027, 1, 11, tzinfo=NY))
    assert window("eq2027-01-10", zone=KIRITIMATI)[0] == datetime(2027, 1, 9, 10, tzinfo=UTC)


def test_ge_and_le_days_span_from_the_first_day_s_start_to_the_last_day_s_end() -> None:
    start, end = window("ge2027-01-10", "le2027-01-12")
    assert (start, end) == (datetime(2027, 1, 10, tzinfo=NY), datetime(2027, 1, 13, tzinfo=NY))
    start, end = window("gt2027-01-10", "lt2027-01-12")
    assert (start, end) == (datetime(2027, 1, 11, tzinfo=NY), datetime(2027, 1, 12, tzinfo=NY))
    assert window("sa2027-01-10", "eb2027-01-12") == (start, end)


def test_a_dst_day_is_23_or_25_hours_long() -> None:
    spring = window("2027-03-14")
    autumn = window("2027-11-07")
    assert spring[1] - spring[0] == timedelta(hours=23) and autumn[1] - autumn[0] == timedelta(hours=25)


def test_times_with_an_offset_are_instants_and_without_one_are_read_in_the_zone() -> None:
    start, end = window("ge2027-01-10T09:00:00-05:00", "lt2027-01-10T17:00:00Z")
    assert (start, end) == (datetime(2027, 1, 10, 14, tzinfo=UTC), datetime(2027, 1, 10, 17, tzinfo=UTC))
    assert window("ge2027-01-10T09:00", "lt2027-01-10T12:30")[0] == datetime(2027, 1, 10, 9, tzinfo=NY)
    # le includes the value's own precision: up to the end of that minute / second.
    assert window("ge2027-01-10T09:00Z", "le2027-01-10T10:00Z")[1] == datetime(2027, 1, 10, 10, 1, tzinfo=UTC)
    assert window("ge2027-01-10T09:00Z", "le2027-01-10T10:00:00Z")[1] == datetime(2027, 1, 10, 10, 0, 1, tzinfo=UTC)
    assert window("2027-01-10T09:00:00.250+01:00")[0] == datetime(2027, 1, 10, 8, 0, 0, 250000, tzinfo=UTC)


def test_a_month_is_searchable_but_a_year_is_too_long() -> None:
    assert window("2027-02") == (datetime(2027, 2, 1, tzinfo=NY), datetime(2027, 3, 1, tzinfo=NY))
    assert window("2027-12")[1] == datetime(2028, 1, 1, tzinfo=NY)
    assert "31 days" in str(fhir.date_range(["2027"], NY, 31))


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["ge2027-01-10"], "give a range"),
        (["le2027-01-10"], "give a range"),
        (["ne2027-01-10"], "not supported"),
        (["ap2027-01-10"], "not supported"),
        (["xx2027-01-10"], "bad date"),
        (["2027-1-10"], "bad date"),
        (["2027-01-10T09"], "bad date"),  # an hour needs its minutes
        (["2027-13-01"], "no such date"),
        (["2027-02-30"], "no such date"),
        (["2027-01-10T09:00+25:00"], "no such date"),
        (["ge2027-01-12", "lt2027-01-10"], "empty"),
        (["ge2027-01-01", "le2027-03-01"], "31 days"),
        (["2027-01-10,2027-01-11"], "bad date"),
    ],
)
def test_what_cannot_be_searched_says_why(values: list[str], says: str) -> None:
    found = fhir.date_range(values, NY, 31)
    assert isinstance(found, str) and says in found, found


@given(st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 30)), st.sampled_from([NY, KIRITIMATI]))
def test_every_day_starts_at_local_midnight_where_the_day_before_ends(day: date, zone: ZoneInfo) -> None:
    this, following = window(day.isoformat(), zone=zone), window((day + timedelta(days=1)).isoformat(), zone=zone)
    assert this[1] == following[0]
    local = this[0].astimezone(zone)
    assert (local.date(), local.hour) == (day, 0) or local.hour == 1  # 1: a DST gap at midnight
    assert window(f"ge{day}", f"le{day}", zone=zone) == this


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dr-lee", "dr-lee"),
        ("Schedule/dr-lee", "dr-lee"),
        ("https://ehr.example/fhir/R4/Schedule/dr-lee", "dr-lee"),
        ("Practitioner/dr-lee", None),
        ("Schedule/", None),
    ],
)
def test_references(value: str, expected: str | None) -> None:
    assert fhir.reference_id(value, "Schedule") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("checkup", "checkup"),
        (f"{fhir.TYPE_SYSTEM}|checkup", "checkup"),
        ("http://snomed.info/sct|185349003", None),
        ("|checkup", None),  # explicitly no system: not our coding
        (f"{fhir.TYPE_SYSTEM}|", None),
    ],
)
def test_tokens(value: str, expected: str | None) -> None:
    assert fhir.token_code(value, fhir.TYPE_SYSTEM) == expected
