"""An appointment's status from its facts in any order; the day per provider; the no-show rate."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.common.contracts import ClinicConfig
from frontdesk.console.domain.schedule import Appointment, KeptZones, by_provider, no_show_rate

T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def appt(appointment_id: str = "a-1", provider: str = "dr-a", start: int = 0, **facts: object) -> Appointment:
    return Appointment(
        appointment_id,
        provider,
        "checkup",
        T0 + timedelta(minutes=start),
        T0 + timedelta(minutes=start + 20),
        **facts,  # type: ignore[arg-type]
    )


def test_status_follows_the_strongest_fact_whatever_arrived_first() -> None:
    facts = {"cancelled_at": T0, "checked_in_at": T0, "no_show": "no_show", "completed_at": T0}
    expected = {
        "completed_at": "completed",
        "no_show": "no_show",
        "checked_in_at": "checked_in",
        "cancelled_at": "cancelled",
    }
    for n in range(len(facts) + 1):
        for known in itertools.combinations(facts, n):
            status = appt(**{k: facts[k] for k in known}).status
            strongest = next((expected[k] for k in expected if k in known), "booked")
            assert status == strongest, known


def test_a_booked_appointment_past_its_start_is_late() -> None:
    assert appt().late(T0 + timedelta(minutes=1))
    assert not appt().late(T0 - timedelta(minutes=1))
    assert not appt(checked_in_at=T0).late(T0 + timedelta(hours=1))


def test_the_day_per_provider_in_start_order() -> None:
    day = by_provider([appt("a-2", "dr-b", 30), appt("a-1", "dr-b", 0), appt("a-3", "dr-a", 60), appt("a-4", None, 5)])
    assert [p.provider_id for p in day] == ["dr-a", "dr-b", "unknown provider"]
    assert [a.appointment_id for a in day[1].appointments] == ["a-1", "a-2"]
    assert day[1].count("booked") == 2


def test_no_show_rate_counts_only_known_outcomes() -> None:
    day = [appt(no_show="no_show"), appt(completed_at=T0), appt(checked_in_at=T0), appt(cancelled_at=T0), appt()]
    assert no_show_rate(day) == (1, 3, 1 / 3)
    assert no_show_rate([appt()]) == (0, 0, None)


def test_the_zones_kept_are_the_clinics_rule_for_each_provider() -> None:
    clinic = ClinicConfig.model_validate(
        {
            "clinic_id": "c-1",
            "name": "Two Cities",
            "timezone": "America/New_York",
            "phone": {"answering_service": "vendor-1"},
            "providers": [
                {"provider_id": "dr-ny"},
                {"provider_id": "dr-ktm", "location_id": "ktm"},
                {"provider_id": "dr-ldn", "location_id": "ktm", "timezone": "Europe/London"},  # their own first
            ],
            "scheduling": {"locations": [{"location_id": "ktm", "timezone": "Asia/Kathmandu"}]},
        }
    )
    zones = KeptZones.of_clinic(clinic)
    assert zones.elsewhere == {"dr-ktm": "Asia/Kathmandu", "dr-ldn": "Europe/London"}
    assert [zones.of(p) for p in ("dr-ny", "dr-ktm", "dr-ldn", "dr-unknown", None)] == [
        "America/New_York",
        "Asia/Kathmandu",
        "Europe/London",
        "America/New_York",
        "America/New_York",
    ]
    assert not zones.differs("dr-ny") and zones.differs("dr-ktm")


ZONE_KEYS = ["America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"]


@given(
    clinic=st.sampled_from(ZONE_KEYS),
    provider=st.sampled_from(ZONE_KEYS),
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)),
    minutes=st.integers(-3 * 24 * 60, 3 * 24 * 60),
)
def test_an_appointment_is_today_on_its_providers_day(clinic: str, provider: str, now: datetime, minutes: int) -> None:
    zones = KeptZones(clinic, {"dr-p": provider} if provider != clinic else {})
    start = now + timedelta(minutes=minutes)
    today = zones.is_today(Appointment("a-1", "dr-p", "checkup", start, start), now)
    assert today == (start.astimezone(ZoneInfo(provider)).date() == now.astimezone(ZoneInfo(provider)).date())
    assert today == (start.astimezone(ZoneInfo(provider)).date() == zones.today("dr-p", now))
    first, last = zones.todays_span(now)
    assert not today or first <= start < last  # the span read from the store holds every provider's today
