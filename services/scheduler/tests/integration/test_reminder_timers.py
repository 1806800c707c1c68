"""Reminder timers of a booking over the real broker and database, across a DST change of the zone the
appointment is kept in (a provider of a New York clinic who works in London)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_scheduler_flows import key, known_clinic, scheduling_clinic

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def client(running: dict[str, ServiceProcess]) -> Any:
    async with running["scheduler"].client(timeout=30) as c:
        yield c


def monday_after_next_change(zone: ZoneInfo) -> date:
    """The first Monday, at least ten days ahead, that follows a change of the zone's UTC offset by at
    most a week (so the 7- and 2-day reminders straddle it and are still in the future)."""
    day = datetime.now(zone).date() + timedelta(days=10)
    while True:
        noon = [datetime.combine(day - timedelta(days=n), datetime.min.time().replace(hour=12), zone) for n in (0, 6)]
        if day.weekday() == 0 and noon[0].utcoffset() != noon[1].utcoffset():
            return day
        day += timedelta(days=1)


async def test_reminder_days_count_in_the_provider_calendar_across_its_dst_change(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    config = scheduling_clinic(uid("sc"))
    config = config.model_copy(
        update={
            "providers": [
                *config.providers,
                config.providers[1].model_copy(update={"provider_id": "dr-london", "timezone": "Europe/London"}),
            ]
        }
    )
    clinic = await known_clinic(stack, running["scheduler"], config)
    monday = monday_after_next_change(LONDON)
    start = datetime.combine(monday, datetime.min.time().replace(hour=9), LONDON)
    body = {
        "patient_id": uid("pat"),
        "clinic_id": clinic,
        "provider_id": "dr-london",
        "appointment_type": "checkup",
        "starts_at": start.isoformat(),
    }
    booked = await client.post("/v1/appointments", json=body, headers=key())
    assert booked.status_code == 201, booked.text
    appointment_id = booked.json()["appointment_id"]
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT timer_key, due_at, payload FROM timers WHERE timer_key LIKE $1",
        f"reminder:{appointment_id}:%",
    )
    due = {row["timer_key"].rsplit(":", 1)[1]: row["due_at"].astimezone(LONDON) for row in rows}
    # 09:00 London the Saturday and the Monday before, though London's offset changed in between.
    assert due["P2D"].replace(tzinfo=None) == datetime.combine(monday - timedelta(days=2), start.time())
    assert due["P7D"].replace(tzinfo=None) == datetime.combine(monday - timedelta(days=7), start.time())
    assert due["PT2H"] == start - timedelta(hours=2)  # hours are elapsed time
    assert {datetime.fromisoformat(json.loads(row["payload"])["starts_at"]) for row in rows} == {start}
