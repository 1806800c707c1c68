"""An appointment's status from its facts in any order; the day per provider; the no-show rate."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from frontdesk.console.domain.schedule import Appointment, by_provider, no_show_rate

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
