"""followup when a clinic's configuration arrives after its events, through the real broker and database.

Proves: a visit for a clinic followup has no configuration for waits (nothing planned with guessed
defaults) without holding up the next visit on the same partition; once the configuration arrives
it is planned once, at the clinic's own check-in time in its zone, with its own link; a repeat of the
visit and a second configuration plan nothing more.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import ClinicConfig, Event, VisitCompleted
from frontdesk.followup.domain.planning import next_day_check_in
from frontdesk.testing.followup import AUTH, phone_for
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_followup_messaging import WAIT, clinic, day_clinic, register

LATE_ZONE = "Asia/Kolkata"  # +05:30 all year: a UTC guess would be off by a half hour too


@pytest.fixture(autouse=True)
def _network_token(api_headers: dict[str, str]) -> None:
    AUTH.update(api_headers)


async def test_a_visit_waits_for_its_clinic_and_is_planned_once_by_its_configuration(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    known_clinic, late_clinic, patient = await day_clinic(stack, followup), uid("fu-late"), uid("pat")
    await register(followup, patient, phone_for(patient))
    completed = datetime.now(UTC) - timedelta(hours=30)
    late_visit, known_visit = uid("visit"), uid("visit")
    # Keyed by patient: both visits on one partition, the late clinic's first.
    visits = [
        VisitCompleted(visit_id=v, patient_id=patient, clinic_id=c, provider_id="dr-a", completed_at=completed)
        for v, c in ((late_visit, late_clinic), (known_visit, known_clinic))
    ]

    def planned_for(visit_id: str) -> Callable[[Envelope[Event]], bool]:
        return lambda e: e.type == "followup.scheduled" and (e.data.visit_id, e.data.kind) == (visit_id, "check_in")

    async with EventTap(stack.bootstrap, ["followup.scheduled"]) as tap:
        await send_events(stack.bootstrap, visits)
        await tap.wait_for(planned_for(known_visit), timeout=10)  # not held up: no retries, no backoff
        await asyncio.sleep(1)
        assert tap.matching(planned_for(late_visit)) == []  # waits: no time, template or link guessed
        await _counted_as_waiting(followup)

        config = clinic(late_clinic, LATE_ZONE, check_in_time="07:15", link_base="https://care.late.example/p")
        await publish(stack.bootstrap, [config])
        [check_in] = await tap.wait_for(planned_for(late_visit), timeout=WAIT)
        expected = next_day_check_in(completed, ZoneInfo(LATE_ZONE), config.messaging.check_in_time)
        assert check_in.data.due_at == expected  # type: ignore[attr-defined]

        # The visit again (a producer's retry, a new id) and a second configuration: nothing more.
        await send_events(stack.bootstrap, [visits[0]])
        await publish(stack.bootstrap, [ClinicConfig.model_validate({**config.model_dump(), "name": "Renamed"})])
        await asyncio.sleep(3)
        assert len(tap.matching(planned_for(late_visit))) == 1
    [message] = await query(
        stack.database_url("followup"),
        "SELECT variables FROM messages WHERE followup_id = $1",
        check_in.data.followup_id,  # type: ignore[attr-defined]
    )
    assert json.loads(message["variables"])["link"].startswith("https://care.late.example/p/")
    assert (
        await query(stack.database_url("followup"), "SELECT 1 FROM awaiting_clinic WHERE clinic_id = $1", late_clinic)
        == []
    )


async def _counted_as_waiting(followup: ServiceProcess) -> None:
    """The wait is visible to operators: the gauge (reported every 5 s) counts the kept event."""
    gauge = re.compile(r'^frontdesk_events_awaiting_clinic\{service="followup"\} ([0-9.e+]+)$', re.M)
    async with httpx.AsyncClient(base_url=followup.ops_url, timeout=5) as client:
        for _ in range(30):
            found = gauge.search((await client.get("/metrics")).text)
            if found and float(found.group(1)) >= 1:
                return
            await asyncio.sleep(0.5)
    raise AssertionError("frontdesk_events_awaiting_clinic never counted the waiting visit")
