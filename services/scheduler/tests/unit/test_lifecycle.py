"""Booking plans from configuration, late cancellation, reminder schedules and status transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.common.contracts import ClinicConfig
from frontdesk.scheduler.domain import booking as domain
from frontdesk.scheduler.domain.slots import Interval

NY = ZoneInfo("America/New_York")


def clinic(**scheduling: object) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "clinic-1",
            "name": "Test Clinic",
            "timezone": "America/New_York",
            "hours": {"mon": ["08:00-17:00"]},
            "phone": {"answering_service": "answering-1"},
            "providers": [
                {"provider_id": "dr-lee", "availability": {"mon": ["09:00-12:00"]}, "appointment_types": ["checkup"]},
                {"provider_id": "dr-khan", "timezone": "Europe/London"},
            ],
            "scheduling": {
                "appointment_types": [
                    {"type_id": "checkup", "duration_minutes": 30, "buffer_after_minutes": 10},
                    {"type_id": "new-patient", "duration_minutes": 60, "patients": "new"},
                ],
                **scheduling,
            },
        }
    )


MONDAY_10 = datetime(2026, 11, 30, 10, tzinfo=NY)


def test_a_configured_type_fixes_the_duration_and_the_buffers() -> None:
    plan = domain.plan_booking(clinic(), "dr-lee", "checkup", MONDAY_10, None)
    assert isinstance(plan, domain.BookingPlan)
    assert plan.window == Interval(MONDAY_10, MONDAY_10 + timedelta(minutes=30))
    assert plan.blocked == Interval(MONDAY_10, MONDAY_10 + timedelta(minutes=40))
    assert plan.check_template  # dr-lee has a template of her own


@pytest.mark.parametrize(
    ("provider", "kind", "ends", "is_new", "reason"),
    [
        ("dr-nobody", "checkup", None, None, "unknown_provider"),
        ("dr-lee", "massage", None, None, "unknown_appointment_type"),
        ("dr-lee", "new-patient", None, None, "unknown_appointment_type"),  # not one of dr-lee's types
        ("dr-lee", "checkup", MONDAY_10 + timedelta(minutes=45), None, "invalid"),  # wrong length
        ("dr-khan", "new-patient", None, False, "invalid"),  # an existing patient
    ],
)
def test_what_a_plan_refuses(provider: str, kind: str, ends: datetime | None, is_new: bool | None, reason: str) -> None:
    plan = domain.plan_booking(clinic(), provider, kind, MONDAY_10, ends, is_new)
    assert isinstance(plan, tuple) and plan[0] == reason


def test_no_clinic_no_plan() -> None:
    assert domain.plan_booking(None, "dr-lee", "checkup", MONDAY_10, None) == (
        "unknown_clinic",
        "the clinic has no configuration",
    )


def test_a_provider_without_a_template_uses_the_clinic_hours_in_their_own_zone() -> None:
    c = clinic()
    provider = domain.find_provider(c, "dr-khan")
    assert provider is not None
    rules = domain.rules_for(c, provider, domain.find_type(c, "new-patient"))
    assert rules.zone.key == "Europe/London"
    assert rules.template["mon"] == [(datetime(1, 1, 1, 8).time(), datetime(1, 1, 1, 17).time())]
    assert rules.duration == timedelta(minutes=60)


def test_late_cancellation_is_under_24_hours_of_elapsed_time() -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=NY)  # the day after the fall-back transition
    assert domain.is_late_cancellation(start, start - timedelta(hours=23, minutes=59))
    assert not domain.is_late_cancellation(start, start - timedelta(hours=24))
    # 09:00 local the day before is 25 elapsed hours earlier across the transition: not late.
    assert not domain.is_late_cancellation(start, datetime(2026, 11, 1, 9, tzinfo=NY))
    assert domain.is_late_cancellation(start, start - timedelta(hours=30), late_cancel_hours=48)


def test_reminder_schedule_skips_reminders_whose_moment_has_passed() -> None:
    start = datetime(2026, 12, 10, 15, tzinfo=UTC)
    now = start - timedelta(days=3)
    assert domain.reminder_schedule(start, ["P7D", "P2D", "PT2H"], now, NY) == [
        ("P2D", start - timedelta(days=2)),
        ("PT2H", start - timedelta(hours=2)),
    ]


@given(st.integers(0, 60), st.integers(0, 48), st.integers(0, 59))
def test_parse_offset_round_trips(days: int, hours: int, minutes: int) -> None:
    text = f"P{days}DT{hours}H{minutes}M"
    assert domain.parse_offset(text) == domain.Offset(days, timedelta(hours=hours, minutes=minutes))


def test_reminder_ids_change_when_the_appointment_moves() -> None:
    a = domain.reminder_id("appt-1", "P2D", datetime(2026, 12, 10, 15, tzinfo=UTC))
    b = domain.reminder_id("appt-1", "P2D", datetime(2026, 12, 11, 15, tzinfo=UTC))
    assert a != b and a == domain.reminder_id("appt-1", "P2D", datetime(2026, 12, 10, 15, tzinfo=UTC))


def test_transitions() -> None:
    assert domain.transition("confirm", "pending") == "booked"
    assert domain.transition("confirm", "cancelled") is None
    assert domain.transition("complete", "checked-in") == "fulfilled"
    assert domain.transition("complete", "cancelled") is None
    assert domain.transition("no_show", "checked-in") is None  # they came: left without visit instead
    assert domain.transition("left_without_visit", "checked-in") == "noshow"
    for _command, (sources, target) in domain.TRANSITIONS.items():
        assert sources <= domain.STATUSES and target in domain.STATUSES


def test_configuration_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        clinic(reminder_offsets=["2 days"])
    with pytest.raises(ValueError, match="unique"):
        clinic(appointment_types=[{"type_id": "a", "duration_minutes": 30}, {"type_id": "a", "duration_minutes": 60}])
    with pytest.raises(ValueError, match="time zone"):
        ClinicConfig.model_validate(
            {
                "clinic_id": "c",
                "name": "C",
                "timezone": "UTC",
                "phone": {"answering_service": "a"},
                "providers": [{"provider_id": "p", "timezone": "Mars/Olympus"}],
            }
        )
