"""FHIR R4 mapping of appointments, slots and schedules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from frontdesk.scheduler.domain import fhir
from frontdesk.scheduler.domain.appointments import Appointment
from frontdesk.scheduler.domain.booking import STATUSES

START = datetime(2026, 12, 7, 15, tzinfo=UTC)
# FHIR R4 Appointment.status value set.
FHIR_APPOINTMENT_STATUSES = {
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error",
    "checked-in", "waitlist",
}  # fmt: skip


BLANK = Appointment(
    appointment_id="appt-1",
    request_id="req-1",
    patient_id="pat-1",
    clinic_id="clinic-1",
    provider_id="dr-lee",
    appointment_type="checkup",
    starts_at=START,
    ends_at=START + timedelta(minutes=30),
    blocked_from=START,
    blocked_until=START + timedelta(minutes=30),
    status="booked",
    status_reason=None,
    source="http",
    hold_expires_at=None,
    external_id=None,
    confirmed_at=None,
    checked_in_at=None,
    completed_at=None,
    cancelled_at=None,
    visit_id=None,
    created_at=START - timedelta(days=3),
    updated_at=START - timedelta(days=1),
)


def row(**overrides: Any) -> Appointment:
    return replace(BLANK, **overrides)


def test_every_status_we_store_is_a_fhir_appointment_status() -> None:
    assert STATUSES <= FHIR_APPOINTMENT_STATUSES


def test_a_booked_appointment() -> None:
    resource = fhir.appointment(row(external_id="FL-1"))
    assert resource["resourceType"] == "Appointment" and resource["status"] == "booked"
    assert resource["start"] == "2026-12-07T15:00:00+00:00" and resource["minutesDuration"] == 30
    actors = [p["actor"]["reference"] for p in resource["participant"]]
    assert actors == ["Patient/pat-1", "Practitioner/dr-lee"]
    assert resource["identifier"] == [{"system": "urn:frontdesk:ehr-appointment-id", "value": "FL-1"}]
    assert "cancelationReason" not in resource


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("cancelled", "late_cancellation", "Cancelled less than 24 hours before the start"),
        ("cancelled", "hold_expired", "Hold expired"),
    ],
)
def test_cancellation_reasons(status: str, reason: str, expected: str) -> None:
    resource = fhir.appointment(row(status=status, status_reason=reason))
    assert resource["cancelationReason"] == {"text": expected}
    assert {p["status"] for p in resource["participant"]} == {"declined"}


def test_left_without_visit_and_holds() -> None:
    assert fhir.appointment(row(status="noshow", status_reason="left_without_visit"))["comment"] == "Left without visit"
    held = fhir.appointment(row(status="pending", hold_expires_at=START - timedelta(hours=1)))
    assert held["status"] == "pending" and {p["status"] for p in held["participant"]} == {"tentative"}


def test_slots_schedules_and_bundles() -> None:
    slot = fhir.slot("dr-lee", START, START + timedelta(minutes=30), "free", "checkup")
    assert slot["schedule"] == {"reference": "Schedule/dr-lee"} and slot["status"] == "free"
    schedule = fhir.schedule("dr-lee", "clinic-1", "America/New_York")
    assert schedule["extension"][0]["valueCode"] == "America/New_York"
    bundle = fhir.bundle([slot, schedule])
    assert bundle["total"] == 2 and bundle["entry"][0]["fullUrl"] == f"Slot/{slot['id']}"


# --- against the official R4 models (fhir.resources, R4B: R4's resources as published, same
# Appointment, Slot, Schedule, Bundle and OperationOutcome) -------------------------------------------


def r4_problems(resource: dict[str, Any]) -> list[str]:
    """What the official models refuse in `resource`: structure and types (pydantic, unknown
    elements refused), and codes outside their required value sets (which the models list but do
    not enforce)."""
    try:
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return list(_codes_outside_value_sets(model, resource["resourceType"]))


def _codes_outside_value_sets(model: FHIRAbstractModel, path: str) -> Iterator[str]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        allowed = (
            (field.json_schema_extra or {}).get("enum_values") if isinstance(field.json_schema_extra, dict) else None
        )
        for item in value if isinstance(value, list) else [value]:
            if allowed and item is not None and item not in allowed:
                yield f"{path}.{name}: {item!r} is not one of {allowed}"
            if isinstance(item, FHIRAbstractModel):
                yield from _codes_outside_value_sets(item, f"{path}.{name}")


def every_resource_we_make() -> Iterator[dict[str, Any]]:
    for status in sorted(STATUSES):
        for reason in (None, "late_cancellation", "hold_expired", "left_without_visit"):
            yield fhir.appointment(row(status=status, status_reason=reason, external_id="EHR-1"))
    yield fhir.appointment(row(status="pending", hold_expires_at=START + timedelta(minutes=10)))
    for status in sorted(fhir.SLOT_STATUSES - {"entered-in-error"}):
        yield fhir.slot("dr-lee", START, START + timedelta(minutes=30), status, "checkup")
    yield fhir.schedule("dr-lee", "clinic-1", "Pacific/Chatham")
    yield fhir.operation_outcome("not-found", "Schedule/x not found")
    yield fhir.operation_outcome("invalid", "bad date parameter")


def test_every_resource_we_make_is_valid_r4() -> None:
    resources = list(every_resource_we_make())
    for resource in resources:
        assert not r4_problems(resource), (resource, r4_problems(resource))
    searchset = [r for r in resources if r["resourceType"] in ("Appointment", "Slot")]
    assert not r4_problems(fhir.bundle(searchset))
    assert not r4_problems(fhir.bundle(searchset[:2], next_url="https://api.example/fhir/R4/Appointment?_cursor=x"))


@pytest.mark.parametrize(
    "broken",
    [
        {"status": "double-booked"},  # not an Appointment.status
        {"start": "2027-01-10T09:00:00"},  # an instant needs its offset
        {"minutesDuration": "thirty"},
        {"participant": [{"actor": {"reference": "Patient/p"}, "status": "maybe"}]},
        {"practitioner": "dr-lee"},  # no such element
    ],
)
def test_the_r4_check_can_fail(broken: dict[str, Any]) -> None:
    assert r4_problems({**fhir.appointment(row()), **broken})
