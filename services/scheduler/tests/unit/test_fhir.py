"""FHIR R4 mapping of appointments, slots and schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from frontdesk.scheduler.domain import fhir
from frontdesk.scheduler.domain.booking import STATUSES

START = datetime(2026, 12, 7, 15, tzinfo=UTC)
# FHIR R4 Appointment.status value set.
FHIR_APPOINTMENT_STATUSES = {
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error",
    "checked-in", "waitlist",
}  # fmt: skip


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "appointment_id": "appt-1",
        "patient_id": "pat-1",
        "provider_id": "dr-lee",
        "appointment_type": "checkup",
        "starts_at": START,
        "ends_at": START + timedelta(minutes=30),
        "status": "booked",
        "status_reason": None,
        "hold_expires_at": None,
        "external_id": None,
        "created_at": START - timedelta(days=3),
        "updated_at": START - timedelta(days=1),
    }
    return {**base, **overrides}


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
