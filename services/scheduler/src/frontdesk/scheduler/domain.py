"""Booking rules that need no I/O. The no-double-booking guarantee itself is the database's
exclusion constraint (see migrations); this module decides what to ask for and how to answer.
"""

from __future__ import annotations

import uuid

from frontdesk.common.contracts import AppointmentRequested, ClinicConfig


def appointment_id_for(request_id: str) -> str:
    """Deterministic id: the same request always names the same appointment."""
    return "appt-" + uuid.uuid5(uuid.NAMESPACE_URL, "frontdesk:appointment:" + request_id).hex[:20]


def validation_problem(clinic: ClinicConfig | None, request: AppointmentRequested) -> tuple[str, str] | None:
    """Why a request cannot be booked before touching the calendar, as (reason, detail), or None."""
    if clinic is None:
        return "unknown_clinic", "the clinic has no configuration"
    if clinic.providers and request.provider_id not in {p.provider_id for p in clinic.providers}:
        return "unknown_provider", "the provider does not work at this clinic"
    return None
