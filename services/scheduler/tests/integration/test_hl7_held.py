"""HL7 for a clinic whose configuration has not arrived yet: held, answered AA with a warning, and
applied in arrival order once the configuration arrives (an interface engine turned on before the
clinic was applied loses nothing). What cannot be read in any zone is refused at once; what the
rules refuse once it is applied is quarantined for staff, since the sender heard AA."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_hl7_conventions import segments
from .test_scheduler_interop import siu

WAIT = 90.0
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45, no DST: a time without an offset is read in it


async def test_hl7_before_the_clinics_configuration_is_held_then_applied(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = uid("hl7-late")
    provider = f"{clinic_id}-dr"
    day = datetime.now(KATHMANDU).date() + timedelta(days=10)
    ten, eleven = day.strftime("%Y%m%d") + "100000", day.strftime("%Y%m%d") + "110000"
    filler, unknown, stranger = uid("FL"), uid("FL"), uid("FL")
    url = running["scheduler"].url + f"/v1/hl7/{clinic_id}"
    ehr = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], subject='ehr-interface')}"}
    async with httpx.AsyncClient(timeout=30, headers=ehr) as client:

        async def send(text: str) -> str:
            response = await client.post(
                url, content=text.encode(), headers={"content-type": "x-application/hl7-v2+er7"}
            )
            assert response.status_code == 200
            return response.text

        booking = siu("S12", uid("MSG"), filler, uid("mrn"), "DRLEE", ten, "BOOKED")
        held = segments(await send(booking))
        assert held["MSA"][1] == "AA" and "held" in held["MSA"][3]
        assert held["ERR"][3].startswith("0^") and held["ERR"][4] == "W"  # taken, with a warning
        assert segments(await send(booking))["MSA"][1] == "AA"  # a resend while held: held once
        assert segments(await send("hello"))["MSA"][1] == "AR"  # unreadable in any zone: refused now
        await send(siu("S13", uid("MSG"), unknown, uid("mrn"), "DRLEE", eleven, "BOOKED"))  # quarantined later
        await send(siu("S12", uid("MSG"), stranger, uid("mrn"), "NOBODY", eleven, "BOOKED"))  # refused later
    held_rows = await query(stack.database_url("scheduler"), "SELECT 1 FROM hl7_held WHERE clinic_id = $1", clinic_id)
    assert len(held_rows) == 3

    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Late HL7 Clinic",
            "timezone": "Asia/Kathmandu",
            "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [{"provider_id": provider}],
            "scheduling": {"hl7_providers": {"DRLEE": provider}},
        }
    )
    topics = ["appointment.booked", "hl7.quarantined"]
    async with EventTap(stack.bootstrap, topics) as tap:
        await publish(stack.bootstrap, [config])
        ours = lambda e: getattr(e.data, "clinic_id", None) == clinic_id  # noqa: E731
        await tap.wait_for(ours, count=3, timeout=WAIT)
        await tap.settle(1.5)
    events = tap.matching(ours)
    [booked] = [e for e in events if e.type == "appointment.booked"]
    assert booked.data.starts_at == datetime(day.year, day.month, day.day, 10, tzinfo=KATHMANDU)  # type: ignore[attr-defined]
    reasons = sorted(e.data.reason for e in events if e.type == "hl7.quarantined")  # type: ignore[attr-defined]
    assert len(reasons) == 2 and "unknown appointment" in reasons[0] and "unknown_provider" in reasons[1]
    assert "held until the clinic was configured" in reasons[1]
    deadline = time.monotonic() + WAIT
    while await query(stack.database_url("scheduler"), "SELECT 1 FROM hl7_held WHERE clinic_id = $1", clinic_id):
        assert time.monotonic() < deadline, "held messages were never applied"
        await asyncio.sleep(0.2)
    outcomes = await query(
        stack.database_url("scheduler"),
        "SELECT outcome, count(*) AS n FROM hl7_messages WHERE clinic_id = $1 GROUP BY outcome",
        clinic_id,
    )
    assert {r["outcome"]: r["n"] for r in outcomes} == {"applied": 1, "quarantined": 2}
