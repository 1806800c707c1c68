"""FHIR R4 resources for what we booked: Appointment, Slot and Schedule as plain JSON (pure mapping).

We store FHIR Appointment.status values directly (pending, booked, arrived, checked-in, fulfilled,
cancelled, noshow, entered-in-error); a left-without-visit is `noshow` with a comment saying so, an
expired hold `cancelled` with that reason. Slots: free (from the slot generator), busy (booked),
busy-tentative (held), busy-unavailable (blocked time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
TYPE_SYSTEM = "urn:frontdesk:appointment-type"
REASONS = {
    "late_cancellation": "Cancelled less than 24 hours before the start",
    "cancelled": "Cancelled",
    "hold_released": "Hold released",
    "hold_expired": "Hold expired",
}


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def appointment(row: dict[str, Any]) -> dict[str, Any]:
    status = row["status"]
    participant_status = "declined" if status == "cancelled" else "accepted"
    if status == "pending":
        participant_status = "tentative"
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": row["appointment_id"],
        "meta": {"lastUpdated": _ts(row.get("updated_at"))},
        "status": status,
        "appointmentType": {"coding": [{"system": TYPE_SYSTEM, "code": row["appointment_type"]}]},
        "start": _ts(row["starts_at"]),
        "end": _ts(row["ends_at"]),
        "minutesDuration": int((row["ends_at"] - row["starts_at"]).total_seconds() // 60),
        "created": _ts(row.get("created_at")),
        "participant": [
            {
                "actor": {"reference": f"Patient/{row['patient_id']}"},
                "required": "required",
                "status": participant_status,
            },
            {
                "actor": {"reference": f"Practitioner/{row['provider_id']}"},
                "required": "required",
                "status": participant_status,
            },
        ],
    }
    if row.get("external_id"):
        resource["identifier"] = [{"system": "urn:frontdesk:ehr-appointment-id", "value": row["external_id"]}]
    if status == "cancelled":
        reason = row.get("status_reason") or "cancelled"
        resource["cancelationReason"] = {"text": REASONS.get(reason, reason)}
    if status == "noshow" and row.get("status_reason") == "left_without_visit":
        resource["comment"] = "Left without visit"
    if status == "pending" and row.get("hold_expires_at"):
        resource["comment"] = f"Held until {_ts(row['hold_expires_at'])}"
    return {k: v for k, v in resource.items() if v is not None}


def schedule(provider_id: str, clinic_id: str, timezone: str) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": provider_id,
        "active": True,
        "actor": [{"reference": f"Practitioner/{provider_id}"}, {"reference": f"Location/{clinic_id}"}],
        "extension": [{"url": TIMEZONE_EXTENSION, "valueCode": timezone}],
    }


def slot(provider_id: str, start: datetime, end: datetime, status: str, type_id: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": f"{provider_id}-{int(start.timestamp())}-{int(end.timestamp())}",
        "schedule": {"reference": f"Schedule/{provider_id}"},
        "status": status,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    if type_id:
        resource["appointmentType"] = {"coding": [{"system": TYPE_SYSTEM, "code": type_id}]}
    return resource


def bundle(resources: list[dict[str, Any]], base: str = "", next_url: str | None = None) -> dict[str, Any]:
    """A searchset; `next_url`: where the next page is (Bundle.link relation "next"), if any."""
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }
    if next_url is None:
        out["total"] = len(resources)  # the whole result: it fits on this page
    else:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


def operation_outcome(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
