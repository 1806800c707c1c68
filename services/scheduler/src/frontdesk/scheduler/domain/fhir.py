"""FHIR R4 resources for what we booked: Appointment, Slot and Schedule as plain JSON (pure mapping).

We store FHIR Appointment.status values directly (pending, booked, arrived, checked-in, fulfilled,
cancelled, noshow, entered-in-error); a left-without-visit is `noshow` with a comment saying so, an
expired hold `cancelled` with that reason. Slots: free (from the slot generator), busy (booked),
busy-tentative (held), busy-unavailable (blocked time).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from .appointments import Appointment

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


def appointment(row: Appointment) -> dict[str, Any]:
    status = row.status
    participant_status = "declined" if status == "cancelled" else "accepted"
    if status == "pending":
        participant_status = "tentative"
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": row.appointment_id,
        "meta": {"lastUpdated": _ts(row.updated_at)},
        "status": status,
        "appointmentType": {"coding": [{"system": TYPE_SYSTEM, "code": row.appointment_type}]},
        "start": _ts(row.starts_at),
        "end": _ts(row.ends_at),
        "minutesDuration": int((row.ends_at - row.starts_at).total_seconds() // 60),
        "created": _ts(row.created_at),
        "participant": [
            {
                "actor": {"reference": f"Patient/{row.patient_id}"},
                "required": "required",
                "status": participant_status,
            },
            {
                "actor": {"reference": f"Practitioner/{row.provider_id}"},
                "required": "required",
                "status": participant_status,
            },
        ],
    }
    if row.external_id:
        resource["identifier"] = [{"system": "urn:frontdesk:ehr-appointment-id", "value": row.external_id}]
    if status == "cancelled":
        reason = row.status_reason or "cancelled"
        resource["cancelationReason"] = {"text": REASONS.get(reason, reason)}
    if status == "noshow" and row.status_reason == "left_without_visit":
        resource["comment"] = "Left without visit"
    if status == "pending" and row.hold_expires_at:
        resource["comment"] = f"Held until {_ts(row.hold_expires_at)}"
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


# --- search parameters (FHIR R4 search rules, http://hl7.org/fhir/R4/search.html) --------------------

# A date search value: an optional prefix, then any precision from the year down to fractions of a
# second (minutes required with an hour), with or without an offset.
_DATE = re.compile(
    r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
SLOT_STATUSES = frozenset({"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"})


def _implicit_range(match: re.Match[str], zone: tzinfo) -> tuple[datetime, datetime]:
    """The range a value stands for (FHIR: its precision): 2027-01-10 is that whole day, in `zone`
    when the value has no offset of its own (the local midnights, so a DST day is 23 or 25 hours)."""
    year, month, day, hour, minute, second, fraction, offset = match.groups()[1:]
    if offset is not None:
        zone = UTC if offset == "Z" else datetime.fromisoformat(f"2000-01-01T00:00{offset}").tzinfo or UTC
    y, mo, d = int(year), int(month or 1), int(day or 1)
    if hour is None:
        start = datetime(y, mo, d)
        if day is not None:
            end = start + timedelta(days=1)
        elif month is not None:
            end = datetime(y + mo // 12, mo % 12 + 1, 1)
        else:
            end = datetime(y + 1, 1, 1)
        return _local(start, zone), _local(end, zone)
    micro = int((fraction or ".0")[1:].ljust(6, "0")[:6])
    start = datetime(y, mo, d, int(hour), int(minute), int(second or 0), micro)
    step = timedelta(microseconds=1) if fraction else timedelta(seconds=1) if second else timedelta(minutes=1)
    return _local(start, zone), _local(start, zone) + step


def _local(wall: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time in `zone`, as an instant in UTC (in a DST gap, the time after it); in UTC
    so that differences are elapsed time, not wall-clock time."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def date_range(values: list[str], zone: tzinfo, max_days: int) -> tuple[datetime, datetime] | str:
    """The window [start, end) that date search values select (several are ANDed), or why none.

    Prefixes: eq (or none) the value's range; ge from its start and gt from its end; le up to its end
    and lt up to its start; sa/eb as gt/lt. Both ends are needed (eq gives both); ne and ap are
    refused. A value without an offset is read in `zone` (the schedule's)."""
    start: datetime | None = None
    end: datetime | None = None
    for value in values:
        match = _DATE.match(value)
        if match is None:
            return f"bad date parameter {value!r}: use [prefix]YYYY[-MM[-DD[Thh:mm[:ss][offset]]]]"
        prefix = match.group(1) or "eq"
        if prefix in ("ne", "ap"):
            return f"date prefix {prefix!r} is not supported here (use eq, ge, gt, le, lt, sa or eb)"
        try:
            low, high = _implicit_range(match, zone)
        except ValueError:
            return f"bad date parameter {value!r}: no such date or time"
        if prefix in ("eq", "ge", "gt", "sa"):
            lower = high if prefix in ("gt", "sa") else low
            start = lower if start is None else max(start, lower)
        if prefix in ("eq", "le", "lt", "eb"):
            upper = low if prefix in ("lt", "eb") else high
            end = upper if end is None else min(end, upper)
    if start is None or end is None:
        return "give a range: a day (2027-01-10), or one ge/gt and one le/lt date"
    if end <= start:
        return "the date range is empty: its end is not after its start"
    if end - start > timedelta(days=max_days):
        return f"search at most {max_days} days at a time"
    return start, end


def reference_id(value: str, resource_type: str) -> str | None:
    """The id a reference search value names: `id`, `Type/id` or an absolute `.../Type/id` URL;
    None if it names another type of resource."""
    if "/" not in value:
        return value
    head, _, found = value.rstrip("/").rpartition("/")
    kind = head.rpartition("/")[2]
    return found if kind == resource_type and found else None


def token_code(value: str, system: str) -> str | None:
    """The code a token search value names: `code`, or `system|code` with our system; None if it
    names another system (or no code)."""
    if "|" not in value:
        return value or None
    given, _, code = value.partition("|")
    return code if given == system and code else None
