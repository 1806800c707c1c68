"""Booking rules: deterministic appointment ids, and what makes a request unbookable up front."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.contracts import AppointmentBooked, AppointmentRejected, AppointmentRequested, ClinicConfig
from frontdesk.scheduler.domain.booking import appointment_id_for, validation_problem

STARTS = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@-]+$")


def clinic(*providers: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "clinic-1",
            "name": "Test Clinic",
            "timezone": "America/New_York",
            "phone": {"answering_service": "answering-1"},
            "providers": [{"provider_id": p} for p in providers],
        }
    )


def request(provider_id: str = "dr-lee", request_id: str = "req-1") -> AppointmentRequested:
    return AppointmentRequested(
        request_id=request_id,
        patient_id="patient-7",
        clinic_id="clinic-1",
        provider_id=provider_id,
        appointment_type="checkup",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=30),
    )


# --- appointment ids ----------------------------------------------------------------------------


def test_the_same_request_always_names_the_same_appointment() -> None:
    assert appointment_id_for("req-1") == appointment_id_for("req-1")
    # Pinned: a change to the derivation would let a replayed request book a second appointment.
    assert appointment_id_for("req-1") == "appt-c217fa4730a651428bad"


def test_different_requests_name_different_appointments() -> None:
    ids = {appointment_id_for(f"req-{n}") for n in range(1000)}
    assert len(ids) == 1000


@pytest.mark.parametrize("request_id", ["req-1", "a", "x" * 128, "vendor:42@clinic.example"])
def test_appointment_ids_are_valid_ids(request_id: str) -> None:
    appointment_id = appointment_id_for(request_id)
    assert re.fullmatch(r"appt-[0-9a-f]{20}", appointment_id)
    assert ID_PATTERN.match(appointment_id)
    booked = AppointmentBooked(
        appointment_id=appointment_id,
        request_id=request_id,
        patient_id="patient-7",
        clinic_id="clinic-1",
        provider_id="dr-lee",
        appointment_type="checkup",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=30),
    )
    assert booked.appointment_id == appointment_id


# --- validation_problem -------------------------------------------------------------------------


def test_an_unknown_clinic_is_a_problem() -> None:
    assert validation_problem(None, request()) == ("unknown_clinic", "the clinic has no configuration")


def test_a_provider_who_does_not_work_at_the_clinic_is_a_problem() -> None:
    assert validation_problem(clinic("dr-lee", "dr-khan"), request("dr-smith")) == (
        "unknown_provider",
        "the provider does not work at this clinic",
    )


@pytest.mark.parametrize("provider_id", ["dr-lee", "dr-khan"])
def test_a_listed_provider_is_fine(provider_id: str) -> None:
    assert validation_problem(clinic("dr-lee", "dr-khan"), request(provider_id)) is None


def test_a_clinic_that_lists_no_providers_accepts_any_provider() -> None:
    assert validation_problem(clinic(), request("dr-anyone")) is None


def test_every_problem_fits_in_an_appointment_rejected() -> None:
    for problem in (validation_problem(None, request()), validation_problem(clinic("dr-lee"), request("dr-x"))):
        assert problem is not None
        reason, detail = problem
        rejected = AppointmentRejected(
            request_id="req-1",
            patient_id="patient-7",
            clinic_id="clinic-1",
            provider_id="dr-x",
            reason=reason,
            detail=detail,
        )
        assert (rejected.reason, rejected.detail) == problem
