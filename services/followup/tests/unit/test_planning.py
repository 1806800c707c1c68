"""Due times of recalls, no-show outreach and callbacks, in the clinic's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain.planning import add_months, next_day_check_in, next_opening, no_show_due, recall_due

NY = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_recall_six_months_later_at_ten_local() -> None:
    assert recall_due(utc(2026, 11, 27, 20), NY, 6) == utc(2027, 5, 27, 14)  # EDT in May
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)


def test_no_show_same_evening_or_now() -> None:
    starts = utc(2026, 11, 27, 15)  # 10:00 EST
    assert no_show_due(starts, utc(2026, 11, 27, 16), NY, time(18)) == utc(2026, 11, 27, 23)
    late = utc(2026, 11, 28, 0, 30)  # 19:30 EST: the evening has begun
    assert no_show_due(starts, late, NY, time(18)) == late


HOURS = {"mon": [(time(8), time(12)), (time(13), time(17))], "sat": [(time(9), time(12))]}


def test_next_opening() -> None:
    monday_9 = utc(2026, 11, 30, 14)
    assert next_opening(monday_9, NY, HOURS) == monday_9  # open now
    assert next_opening(utc(2026, 11, 30, 17, 30), NY, HOURS) == utc(2026, 11, 30, 18)  # lunch -> 13:00
    assert next_opening(utc(2026, 11, 27, 20), NY, HOURS) == utc(2026, 11, 28, 14)  # Friday -> Sat 9:00
    closed_sat = next_opening(utc(2026, 11, 27, 20), NY, HOURS, closures=[date(2026, 11, 28)])
    assert closed_sat == utc(2026, 11, 30, 13)
    assert next_opening(monday_9, NY, {}) is None


def test_callbacks_of_unknown_callers_are_keyed_by_their_token() -> None:
    from frontdesk.common.contracts import CallbackRequested
    from frontdesk.followup.handlers import callback_patient_key

    def cb(token: str, patient: str | None = None) -> CallbackRequested:
        return CallbackRequested(
            callback_id="cb-1",
            clinic_id="c-1",
            caller_token=token,
            patient_id=patient,
            reason="abandoned_call",
            requested_at=utc(2026, 1, 1),
        )

    assert callback_patient_key(cb("tok-1", "pat-9")) == "pat-9"
    assert callback_patient_key(cb("tok-1")) == "caller:tok-1"
    long_key = callback_patient_key(cb("t" * 128))
    assert long_key.startswith("caller:") and len(long_key) <= 128


def test_derived_ids_stay_valid_ids() -> None:
    from frontdesk.followup.handlers import followup_id

    assert followup_id("reminder", "rem-1") == "fu-reminder-rem-1"
    long_id = followup_id("reminder", "r" * 128)
    assert len(long_id) <= 128 and long_id.startswith("fu-reminder-h-")
    assert long_id == followup_id("reminder", "r" * 128)  # stable: redelivery finds the same plan


def test_next_opening_of_hours_that_end_at_midnight() -> None:
    """A callback asked for at 23:59 of a clinic open until 24:00 is due at once, not the next morning."""
    evening = {"mon": [(time(18), time(0))], "tue": [(time(0), time(6))]}
    assert next_opening(utc(2026, 12, 8, 4, 59), NY, evening) == utc(2026, 12, 8, 4, 59)  # Mon 23:59 EST
    assert next_opening(utc(2026, 12, 8, 5, 0), NY, evening) == utc(2026, 12, 8, 5, 0)  # Tue 00:00
    assert next_opening(utc(2026, 12, 8, 11), NY, evening) == utc(2026, 12, 14, 23)  # Tue 06:00 -> next Mon 18:00


def test_a_check_in_time_the_clocks_skip_is_the_end_of_the_gap_as_for_the_recall() -> None:
    """Santiago springs forward at 24:00 on 2026-09-05: 00:30 on the 6th does not exist."""
    santiago = ZoneInfo("America/Santiago")
    visit = datetime(2026, 9, 5, 20, tzinfo=santiago)
    assert next_day_check_in(visit, santiago, time(0, 30)) == datetime(2026, 9, 6, 1, tzinfo=santiago)
    spring = datetime(2026, 3, 6, 20, tzinfo=santiago)  # six months before the same gap
    assert recall_due(spring, santiago, 6, time(0, 30)) == datetime(2026, 9, 6, 1, tzinfo=santiago)


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(
        ["Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham", "America/Santiago"]
    ).map(ZoneInfo),
    completed_at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 6, 30), timezones=st.just(UTC)),
    months=st.integers(1, 18),
    at=st.times(),
)
def test_the_recall_is_months_later_in_the_zone_calendar_at_the_wall_time_or_the_gap_end(
    zone: ZoneInfo, completed_at: datetime, months: int, at: time
) -> None:
    due = recall_due(completed_at, zone, months, at.replace(second=0, microsecond=0)).astimezone(zone)
    assert due.date() == add_months(completed_at.astimezone(zone).date(), months)
    wanted = datetime.combine(due.date(), at.replace(second=0, microsecond=0))
    assert timedelta(0) <= due.replace(tzinfo=None) - wanted <= timedelta(hours=1)
