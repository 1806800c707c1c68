"""HL7 v2 in (SIU^S12/S13/S15/S26, ADT^A03 over HTTP, answered with ACKs) -> our events out, and the
FHIR R4 read API over what was booked."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

WAIT = 90.0
NY = ZoneInfo("America/New_York")


async def known_clinic(stack: LocalStack, scheduler: ServiceProcess, config: ClinicConfig) -> None:
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + WAIT
    while config.clinic_id not in await asyncio.to_thread(scheduler.known_clinics):
        assert time.monotonic() < deadline, "the scheduler never learned the clinic"
        await asyncio.sleep(0.2)


def open_around_the_clock(clinic_id: str, name: str) -> ClinicConfig:
    """A New York clinic open every hour of every day, whose EHR calls its one provider DRLEE."""
    provider = f"{clinic_id}-dr"
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": name,
            "timezone": "America/New_York",
            "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [{"provider_id": provider}],
            "scheduling": {"hl7_providers": {"DRLEE": provider}},
        }
    )


def siu(trigger: str, control: str, filler: str, patient: str, provider_code: str, start: str, status: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|MIDTOWN|FRONTDESK|SCHEDULER|20261127083000||SIU^{trigger}^SIU_{trigger}|{control}|P|2.5.1",
            f"SCH|PL-{filler}^EPIC|{filler}^EPIC|||||ROUTINE|CHECKUP|30|min|^^30^{start}" + "|" * 14 + status,
            f"PID|1||{patient}^^^EPIC^MR||DOE^JANE",
            "RGS|1|A",
            f"AIS|1|A|CHECKUP^Checkup|{start}|||30|min",
            f"AIP|1|A|{provider_code}^Lee^Ann|PROVIDER",
        ]
    )


def msa(answer: str) -> list[str]:
    [segment] = [s for s in answer.split("\r") if s.startswith("MSA|")]
    return segment.split("|")


async def test_hl7_in_events_out_and_fhir_reads(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    clinic_id = uid("hl7")
    provider = f"{clinic_id}-dr-lee"
    await known_clinic(
        stack,
        running["scheduler"],
        ClinicConfig.model_validate(
            {
                "clinic_id": clinic_id,
                "name": "HL7 Test Clinic",
                "timezone": "America/New_York",
                "hours": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                "phone": {"answering_service": "test-vendor"},
                "providers": [{"provider_id": provider}],
                "scheduling": {
                    "appointment_types": [{"type_id": "checkup", "duration_minutes": 30}],
                    "hl7_providers": {"DRLEE": provider},
                    "hl7_services": {"CHECKUP": "checkup"},
                },
            }
        ),
    )
    # A Monday three weeks out, 10:00 and 11:00 New York time.
    from datetime import datetime

    today = datetime.now(NY).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 + 21)
    ten = monday.strftime("%Y%m%d") + "100000"
    eleven = monday.strftime("%Y%m%d") + "110000"
    patient, other = uid("mrn"), uid("mrn")
    filler, filler2 = uid("FL"), uid("FL")
    url = running["scheduler"].url + f"/v1/hl7/{clinic_id}"
    topics = [
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.cancelled",
        "appointment.no_show",
        "visit.completed",
    ]
    # The EHR's interface engine holds a token for this clinic only.
    ehr = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], subject='ehr-interface')}"}
    async with httpx.AsyncClient(timeout=30, headers=ehr) as client, EventTap(stack.bootstrap, topics) as tap:

        async def send(text: str) -> list[str]:
            response = await client.post(
                url, content=text.encode(), headers={"content-type": "x-application/hl7-v2+er7"}
            )
            assert response.status_code == 200 and response.headers["content-type"].startswith("x-application/hl7-v2")
            return msa(response.text)

        c1 = uid("MSG")
        assert (await send(siu("S12", c1, filler, patient, "DRLEE", ten, "BOOKED")))[1:3] == ["AA", c1]
        assert (await send(siu("S12", c1, filler, patient, "DRLEE", ten, "BOOKED")))[1] == "AA"  # same message again
        assert (await send(siu("S12", uid("MSG"), filler, patient, "DRLEE", ten, "BOOKED")))[
            1
        ] == "AA"  # same appointment
        # A second appointment that overlaps the first: refused with the reason, nothing booked.
        clash = await send(siu("S12", uid("MSG"), uid("FL"), other, "DRLEE", ten, "BOOKED"))
        assert clash[1] == "AE" and "slot_taken" in clash[3]
        # An update for an appointment we never saw: quarantined, never booked.
        unknown = uid("FL")
        quarantined = await send(siu("S13", uid("MSG"), unknown, other, "DRLEE", eleven, "BOOKED"))
        assert quarantined[1] == "AE" and "quarantined" in quarantined[3]
        # Garbage: rejected.
        assert (await send("hello"))[1] == "AR"
        # Reschedule to 11:00, then cancel; a second appointment ends with ADT^A03.
        assert (await send(siu("S13", uid("MSG"), filler, patient, "DRLEE", eleven, "BOOKED")))[1] == "AA"
        assert (await send(siu("S12", uid("MSG"), filler2, other, "DRLEE", ten, "BOOKED")))[1] == "AA"
        assert (await send(siu("S15", uid("MSG"), filler, patient, "DRLEE", eleven, "CANCELLED")))[1] == "AA"
        a03 = "\r".join(
            [
                f"MSH|^~\\&|EPIC|MIDTOWN|FD|FD|20261207113000||ADT^A03^ADT_A03|{uid('MSG')}|P|2.5.1",
                f"EVN|A03|{ten}",
                f"PID|1||{other}^^^EPIC^MR||DOE^JOHN",
                "PV1|1|O|MIDTOWN||||DRLEE^Lee^Ann" + "|" * 12 + "V-1" + "|" * 26 + monday.strftime("%Y%m%d") + "103500",
            ]
        )
        assert (await send(a03))[1] == "AA"
        assert (await send(a03))[1] == "AA"  # repeated: visit.completed stays single
        ours = lambda e: getattr(e.data, "clinic_id", None) == clinic_id  # noqa: E731
        await tap.wait_for(ours, count=5, timeout=WAIT)
        await tap.settle(1.5)
    types = sorted(e.type for e in tap.matching(ours))
    assert types == [
        "appointment.booked",
        "appointment.booked",
        "appointment.cancelled",
        "appointment.rescheduled",
        "visit.completed",
    ]
    rows = await query(
        stack.database_url("scheduler"), "SELECT external_id, status FROM appointments WHERE clinic_id = $1", clinic_id
    )
    assert sorted((r["external_id"], r["status"]) for r in rows) == sorted(
        [(filler, "cancelled"), (filler2, "fulfilled")]
    )
    quarantine = await query(
        stack.database_url("scheduler"),
        "SELECT reason FROM hl7_messages WHERE outcome = 'quarantined' AND raw LIKE $1",
        f"%{unknown}%",
    )
    assert len(quarantine) == 1

    # FHIR R4 reads of the same appointments.
    async with httpx.AsyncClient(base_url=running["scheduler"].url + "/fhir/R4", timeout=30, headers=ehr) as fhir:
        bundle = (await fhir.get("/Appointment", params={"practitioner": f"Practitioner/{provider}"})).json()
        assert bundle["resourceType"] == "Bundle" and bundle["total"] == 2
        by_status = {e["resource"]["status"]: e["resource"] for e in bundle["entry"]}
        assert set(by_status) == {"cancelled", "fulfilled"}
        fulfilled = by_status["fulfilled"]
        assert fulfilled["participant"][0]["actor"]["reference"] == f"Patient/{other}"
        assert fulfilled["identifier"][0]["value"] == filler2 and fulfilled["minutesDuration"] == 30
        one = await fhir.get(f"/Appointment/{fulfilled['id']}")
        assert one.headers["content-type"].startswith("application/fhir+json") and one.json()["id"] == fulfilled["id"]
        assert (await fhir.get("/Appointment/nope")).json()["resourceType"] == "OperationOutcome"
        sched = (await fhir.get(f"/Schedule/{provider}")).json()
        assert sched["extension"][0]["valueCode"] == "America/New_York"
        day_start = datetime(monday.year, monday.month, monday.day, 8, tzinfo=NY)
        slots: dict[str, Any] = (
            await fhir.get(
                "/Slot",
                params=[
                    ("schedule", f"Schedule/{provider}"),
                    ("start", f"ge{day_start.isoformat()}"),
                    ("start", f"lt{(day_start + timedelta(hours=10)).isoformat()}"),
                ],
            )
        ).json()
        statuses = [(e["resource"]["start"], e["resource"]["status"]) for e in slots["entry"]]
        busy = [s for s in statuses if s[1] == "busy"]
        assert len(busy) == 1  # the fulfilled 10:00 visit; the cancelled one freed its slot
        free_starts = {datetime.fromisoformat(s).astimezone(NY).strftime("%H:%M") for s, st in statuses if st == "free"}
        assert "10:00" not in free_starts and "11:00" in free_starts and "09:30" in free_starts


async def test_issue16_item10_impossible_dates_offsets_and_durations_are_answered_ar_naming_the_field(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    """An EHR resends whatever it gets a 5xx for, forever: an impossible time is its error, answered
    with an ACK (HTTP 200, as every ACK) that says which field, never a 500."""
    clinic_id = uid("hl7-bad")
    await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "HL7 Bad Timing Clinic"))
    ok = "20301207100000"
    cases = {
        # name: (start, AIS-7 duration, the field the reason must name)
        "month 13": ("20301301100000", "30", "SCH-11.4 start"),
        "30 February": ("20300230100000", "30", "SCH-11.4 start"),
        "offset +2500": ("20301207100000+2500", "30", "SCH-11.4 start"),
        "year 0": ("00001207100000", "30", "SCH-11.4 start"),
        "negative duration": (ok, "-30", "AIS-7 duration"),
        "huge duration": (ok, "1e300", "AIS-7 duration"),
        "NaN duration": (ok, "nan", "AIS-7 duration"),
    }
    url = running["scheduler"].url + f"/v1/hl7/{clinic_id}"
    ehr = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], subject='ehr-interface')}"}
    async with httpx.AsyncClient(timeout=30, headers=ehr) as client:

        async def send(text: str) -> list[str]:
            response = await client.post(
                url, content=text.encode(), headers={"content-type": "x-application/hl7-v2+er7"}
            )
            assert response.status_code == 200, response.text
            return msa(response.text)

        for name, (start, duration, field) in cases.items():
            text = siu("S12", uid("MSG"), uid("FL"), uid("mrn"), "DRLEE", start, "BOOKED")
            text = text.replace("|||30|min", f"|||{duration}|min")
            answer = await send(text)
            assert answer[1] == "AR" and field in answer[3], (name, answer)
        # A control id too long to key the deduplication (random, so it does not compress).
        long_id = "".join(uuid.uuid4().hex for _ in range(600))
        answer = await send(siu("S12", long_id, uid("FL"), uid("mrn"), "DRLEE", ok, "BOOKED"))
        assert answer[1] == "AR" and "MSH-10" in answer[3], answer
        # The extremes that are real times are not errors of ours either: an answer, never a 500.
        for start, duration in (("21991231230000+1400", "1440"), ("19000101000000-1200", "30")):
            text = siu("S12", uid("MSG"), uid("FL"), uid("mrn"), "DRLEE", start, "BOOKED")
            answer = await send(text.replace("|||30|min", f"|||{duration}|min"))
            assert answer[1] in ("AA", "AE", "AR"), answer
