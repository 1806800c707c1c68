"""The FHIR read API as an EHR reads it: a date-only Slot search is the schedule's whole local day
(in a zone with a 45-minute offset, where a UTC reading would shift the day), references and tokens
in their FHIR forms, unsupported prefixes and modifiers refused with an OperationOutcome, and every
answer valid against the official R4 models (fhir.resources, R4B)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_scheduler_flows import known_clinic

ZONE = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIRST_AND_LAST = ["00:00-00:30", "23:00-23:30"]  # the first and the last half hour of every local day


def clinic(clinic_id: str, provider: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "FHIR Search Clinic",
            "timezone": ZONE.key,
            "hours": {d: ["00:00-23:59"] for d in EVERY_DAY},
            "phone": {"answering_service": "test-vendor"},
            "providers": [
                {"provider_id": provider, "availability": {d: ["00:00-00:30", "23:00-23:30"] for d in EVERY_DAY}}
            ],
            "scheduling": {"appointment_types": [{"type_id": "checkup", "duration_minutes": 30}]},
        }
    )


def free_local_starts(bundle: dict[str, Any]) -> list[datetime]:
    Bundle.model_validate(bundle)
    return sorted(
        datetime.fromisoformat(e["resource"]["start"]).astimezone(ZONE)
        for e in bundle.get("entry", [])
        if e["resource"]["status"] == "free"
    )


async def test_slot_search_as_an_ehr_sends_it(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    clinic_id, provider = uid("fhir"), uid("dr")
    await known_clinic(stack, running["scheduler"], clinic(clinic_id, provider))
    day = datetime.now(ZONE).date() + timedelta(days=14)
    token = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], scopes=['read'])}"}
    async with httpx.AsyncClient(base_url=running["scheduler"].url + "/fhir/R4", timeout=30, headers=token) as fhir:

        async def slots(*params: tuple[str, str], schedule: str = f"Schedule/{provider}") -> httpx.Response:
            return await fhir.get("/Slot", params=[("schedule", schedule), *params])

        # A date alone: that whole day, local midnight to midnight, in the schedule's zone.
        whole_day = await slots(("start", day.isoformat()))
        assert whole_day.status_code == 200, whole_day.text
        expected = [datetime(day.year, day.month, day.day, h, tzinfo=ZONE) for h in (0, 23)]
        assert free_local_starts(whole_day.json()) == expected
        # ge/le days: from the first day's start to the last day's end.
        two_days = await slots(("start", f"ge{day}"), ("start", f"le{day + timedelta(days=1)}"))
        assert len(free_local_starts(two_days.json())) == 4
        # The same, written as a reference URL and a system|code token, statuses as an OR list.
        spelled = await slots(
            ("start", day.isoformat()),
            ("appointment-type", "urn:frontdesk:appointment-type|checkup"),
            ("status", "free,busy"),
            schedule=f"https://ehr.example/fhir/R4/Schedule/{provider}",
        )
        assert free_local_starts(spelled.json()) == expected
        # Instants with their offsets still work as before.
        morning = datetime(day.year, day.month, day.day, tzinfo=ZONE)
        timed = await slots(
            ("start", f"ge{morning.isoformat()}"), ("start", f"lt{(morning + timedelta(hours=1)).isoformat()}")
        )
        assert free_local_starts(timed.json()) == expected[:1]

        refused = {
            "ne prefix": [("start", f"ne{day}")],
            "open range": [("start", f"ge{day}")],
            "modifier": [("start", day.isoformat()), ("start:missing", "true")],
            "unknown status": [("start", day.isoformat()), ("status", "open")],
            "other coding": [("start", day.isoformat()), ("appointment-type", "http://snomed.info/sct|185349003")],
            "no such day": [("start", "2027-02-30")],
        }
        for name, params in refused.items():
            answer = await slots(*params)
            assert answer.status_code == 400, (name, answer.text)
            assert OperationOutcome.model_validate(answer.json()).issue[0].code == "invalid", name
        wrong_type = await slots(("start", day.isoformat()), schedule=f"Practitioner/{provider}")
        assert wrong_type.status_code == 400 and "Schedule" in wrong_type.json()["issue"][0]["diagnostics"]

        # Appointment search: a date alone, in the practitioner's zone; the empty searchset is valid R4.
        search = {"practitioner": f"Practitioner/{provider}", "date": f"{day}"}
        appointments = await fhir.get("/Appointment", params=search)
        assert appointments.status_code == 200 and Bundle.model_validate(appointments.json()).total == 0
        # _count above the page size: FHIR lets the server return fewer, not refuse.
        many = await fhir.get("/Appointment", params={**search, "_count": "5000"})
        assert many.status_code == 200 and Bundle.model_validate(many.json()).type == "searchset"


async def test_what_a_fhir_client_reads_first_and_what_it_is_not_offered(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    """HAPI's generic client reads /metadata before its first request (and SMART apps find the auth
    there): public, a valid CapabilityStatement. Another resource type, or a write, is an
    OperationOutcome (404, 405), not FastAPI's bare JSON."""
    async with httpx.AsyncClient(base_url=running["scheduler"].url + "/fhir/R4", timeout=30) as fhir:
        metadata = await fhir.get("/metadata")
        assert metadata.status_code == 200 and metadata.headers["content-type"].startswith("application/fhir+json")
        statement = CapabilityStatement.model_validate(metadata.json())
        assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
        assert statement.implementation is not None and statement.implementation.url.endswith("/fhir/R4")
        assert (await fhir.get("/Appointment", params={"patient": "x"})).status_code == 401  # the rest needs a token
        patient = await fhir.get("/Patient/123")
        assert (
            patient.status_code == 404
            and OperationOutcome.model_validate(patient.json()).issue[0].code == "not-supported"
        )
        write = await fhir.post("/Appointment", json={"resourceType": "Appointment"})
        assert (
            write.status_code == 405 and OperationOutcome.model_validate(write.json()).issue[0].code == "not-supported"
        )
        history = await fhir.get("/Appointment/a1/_history")
        assert history.status_code == 405
