"""FHIR R4 read API (JSON): Appointment, Slot and Schedule, so an EHR or portal can read what we booked.

Authorization as for /v1 (entrypoints/api.py): reads and searches see the token's clinics only; an
appointment or schedule of another clinic is "not found", exactly as one that does not exist. The
CapabilityStatement (`/metadata`) is public, as FHIR clients read it before they authenticate; any
other resource type or interaction is a 404 OperationOutcome ("not-supported")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from importlib.metadata import version
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from frontdesk.common.api import ErrorBody, error_responses
from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import Connection
from frontdesk.common.pagination import MAX_PAGE, PageRequest
from frontdesk.common.service import Runtime

from .. import open_times
from ..adapters import repository
from ..adapters.clinics import clinic_of
from ..booking import now_utc
from ..domain import booking as booking_rules
from ..domain import fhir
from ..domain.fhir_capabilities import RESOURCES, capability_statement
from ..domain.slots import Interval
from .api import SLOT_SEARCH

MEDIA = "application/fhir+json"


class _FhirJSONResponse(JSONResponse):
    media_type = MEDIA  # so the OpenAPI document declares what the routes send


# Errors are FHIR OperationOutcome resources, except those answered before a route runs (FastAPI's own
# 422 for malformed parameters, credentials, rate limits, the audit trail): plain JSON.
_OUTCOME: dict[str, Any] = {"content": {MEDIA: {"schema": {"type": "object", "required": ["resourceType"]}}}}
_PLAIN: dict[str, Any] = {"content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}


def _plain(code: int) -> dict[str, Any]:
    return {**_PLAIN, "description": error_responses(code)[code]["description"]}


router = APIRouter(
    prefix="/fhir/R4",
    tags=["FHIR R4"],
    default_response_class=_FhirJSONResponse,
    responses={
        400: {**_OUTCOME, "description": "Invalid search"},
        404: {**_OUTCOME, "description": "Not found (or at a clinic outside the token)"},
        422: {**_PLAIN, "description": "Malformed parameters (FastAPI's own answer)"},
        **{code: _plain(code) for code in (401, 403, 503)},
    },
)
# What FHIR clients read before they authenticate (the CapabilityStatement), and the answer to what
# this server does not offer; mounted after `router`, without a token.
public_router = APIRouter(prefix="/fhir/R4", tags=["FHIR R4"], default_response_class=_FhirJSONResponse)
MAX_RANGE = timedelta(days=31)
_VERSION = version("frontdesk-scheduler")
EVERYTHING = Interval(datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA)


def _not_found(what: str) -> JSONResponse:
    return _json(fhir.operation_outcome("not-found", f"{what} not found"), 404)


def _bad(text: str) -> JSONResponse:
    return _json(fhir.operation_outcome("invalid", text), 400)


def _range(values: list[str], zone: tzinfo) -> Interval | str:
    """FHIR date search values (domain/fhir.py says which); without an offset, read in `zone`."""
    found = fhir.date_range(values, zone, MAX_RANGE.days)
    return found if isinstance(found, str) else Interval(*found)


def _modifier(request: Request, names: tuple[str, ...]) -> JSONResponse | None:
    """FHIR: a search parameter with a modifier the server does not support is refused, not ignored."""
    for key in request.query_params:
        name, colon, modifier = key.partition(":")
        if colon and name in names:
            return _bad(f"search parameter {key!r}: the modifier {modifier!r} is not supported")
    return None


def _reference(value: str, resource_type: str) -> str | JSONResponse:
    found = fhir.reference_id(value, resource_type)
    return _bad(f"{value!r} is not a reference to a {resource_type}") if found is None else found


async def _clinic_of_provider(conn: Connection, provider_id: str, visible: list[str] | None) -> ClinicConfig | None:
    """The first clinic (of those in `visible`, None: any) whose configuration lists the provider."""
    clinic_id = next(
        (c for c in await repository.clinics_of_provider(conn, provider_id) if visible is None or c in visible), None
    )
    return None if clinic_id is None else await clinic_of(conn, clinic_id)


async def _zone_of(runtime: Runtime, provider_id: str | None, visible: list[str] | None) -> tzinfo:
    """The zone dates without an offset are read in: the practitioner's, else UTC."""
    assert runtime.pool is not None
    if provider_id is not None:
        async with runtime.pool.acquire() as conn:
            clinic = await _clinic_of_provider(conn, provider_id, visible)
        if clinic is not None:
            return clinic.zone_of(provider_id)
    return UTC


@public_router.get("/metadata")
async def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: what this server reads and searches (no token needed)."""
    base = str(request.url_for("metadata")).removesuffix("/metadata")
    return _json(capability_statement(_VERSION, base))


@router.get("/Appointment/{appointment_id}")
async def read_appointment(appointment_id: str, principal: CurrentPrincipal, runtime: Runtime) -> JSONResponse:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        row = await repository.get_appointment(conn, appointment_id)
    if row is None or not principal.can_see(row.clinic_id):
        return _not_found(f"Appointment/{appointment_id}")
    return _json(fhir.appointment(row))


@router.get("/Appointment")
async def search_appointments(
    principal: CurrentPrincipal,
    request: Request,
    runtime: Runtime,
    patient: str | None = None,
    practitioner: str | None = None,
    date: Annotated[list[str] | None, Query()] = None,
    count: Annotated[int, Query(alias="_count", ge=1)] = 100,
    cursor: Annotated[str | None, Query(alias="_cursor", max_length=1024)] = None,
) -> JSONResponse:
    """Search by patient and/or practitioner (ids or Patient/x, Practitioner/x), optional date range;
    only appointments at the token's clinics. Paged: at most `_count` (500) per Bundle, whose link
    "next" carries the `_cursor` of the next page; FHIR: a larger `_count` gets 500, not an error."""
    page = PageRequest(min(count, MAX_PAGE), cursor)
    try:
        after = page.after(datetime.fromisoformat, str)
    except HTTPException as exc:
        return _bad(str(exc.detail))
    if refused := _modifier(request, ("patient", "practitioner", "date")):
        return refused
    if not patient and not practitioner:
        return _bad("search by patient or practitioner")
    patient_id = _reference(patient, "Patient") if patient else None
    if isinstance(patient_id, JSONResponse):
        return patient_id
    provider_id = _reference(practitioner, "Practitioner") if practitioner else None
    if isinstance(provider_id, JSONResponse):
        return provider_id
    assert runtime.pool is not None
    window = EVERYTHING
    if date:
        found = _range(date, await _zone_of(runtime, provider_id, principal.visible_clinics()))
        if isinstance(found, str):
            return _bad(found)
        window = found
    async with runtime.pool.acquire() as conn:
        rows = await repository.search_appointments(
            conn, patient_id, provider_id, window, principal.visible_clinics(), after, page.fetch
        )
    shown, next_cursor = page.cut(rows, lambda row: [row.starts_at, row.appointment_id])
    next_url = str(request.url.include_query_params(_cursor=next_cursor)) if next_cursor else None
    return _json(fhir.bundle([fhir.appointment(r) for r in shown], next_url=next_url))


@router.get("/Schedule/{provider_id}")
async def read_schedule(provider_id: str, principal: CurrentPrincipal, runtime: Runtime) -> JSONResponse:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic = await _clinic_of_provider(conn, provider_id, principal.visible_clinics())
    if clinic is None:
        return _not_found(f"Schedule/{provider_id}")
    return _json(fhir.schedule(provider_id, clinic.clinic_id, clinic.zone_of(provider_id).key))


def _slot_filters(
    request: Request, schedule: str, appointment_type: str | None, status: str | None
) -> tuple[str, str | None, set[str] | None] | JSONResponse:
    """The Slot search's schedule id, appointment type code and statuses (FHIR tokens; a comma is an
    OR), or the 400 that says which is wrong."""
    if refused := _modifier(request, ("schedule", "start", "appointment-type", "status")):
        return refused
    provider_id = _reference(schedule, "Schedule")
    if isinstance(provider_id, JSONResponse):
        return provider_id
    statuses = set(status.split(",")) if status else None
    if statuses is not None and not statuses <= fhir.SLOT_STATUSES:
        return _bad(f"unknown Slot status {', '.join(sorted(statuses - fhir.SLOT_STATUSES))}")
    type_code = fhir.token_code(appointment_type, fhir.TYPE_SYSTEM) if appointment_type else None
    if appointment_type and type_code is None:
        return _bad(f"appointment-type {appointment_type!r}: give a code, or {fhir.TYPE_SYSTEM}|code")
    return provider_id, type_code, statuses


@router.get("/Slot", dependencies=[SLOT_SEARCH], responses={429: _plain(429)})
async def search_slots(
    principal: CurrentPrincipal,
    request: Request,
    schedule: str,
    start: Annotated[list[str], Query()],
    runtime: Runtime,
    appointment_type: Annotated[str | None, Query(alias="appointment-type")] = None,
    status: str | None = None,
) -> JSONResponse:
    """Slots of one Schedule (= provider) in a range: free ones for `appointment-type` (the
    clinic's first type if omitted), busy / busy-tentative / busy-unavailable for what is taken.
    The schedule must be at one of the token's clinics. What is taken is the provider's whole calendar
    (times only, no appointments): their time at another clinic is not free here either. A date
    without an offset (`start=2027-01-10`: that whole day) is read in the schedule's time zone."""
    filters = _slot_filters(request, schedule, appointment_type, status)
    if isinstance(filters, JSONResponse):
        return filters
    provider_id, requested_type, statuses = filters
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic = await _clinic_of_provider(conn, provider_id, principal.visible_clinics())
        if clinic is None:
            return _not_found(f"Schedule/{provider_id}")
        provider = booking_rules.find_provider(clinic, provider_id)
        assert provider is not None
        window = _range(start, clinic.zone_of(provider_id))
        if isinstance(window, str):
            return _bad(window)
        type_id = requested_type or (
            clinic.scheduling.appointment_types[0].type_id if clinic.scheduling.appointment_types else None
        )
        kind = booking_rules.find_type(clinic, type_id) if type_id else None
        if type_id and kind is None and clinic.scheduling.appointment_types:
            return _bad(f"unknown appointment-type {type_id}")
        rules = booking_rules.rules_for(clinic, provider, kind)
        taken = await repository.occupied(conn, provider_id, window)
        blocks = await repository.blocks_of(conn, provider_id)
        free = await open_times.free_slots(conn, provider, rules, window, now_utc())
    resources = [
        fhir.slot(provider_id, w.start, w.end, "busy-tentative" if status == "pending" else "busy")
        for w, status in taken
    ]
    unavailable = [(b.starts_at, b.ends_at) for b in blocks] + [
        (e.start, e.end) for e in booking_rules.exception_intervals(provider)
    ]
    resources += [
        fhir.slot(provider_id, s, e, "busy-unavailable") for s, e in unavailable if s < window.end and e > window.start
    ]
    resources += [fhir.slot(provider_id, s.start, s.end, "free", type_id) for s in free]
    if statuses is not None:  # FHIR: a comma-separated token list is an OR
        resources = [r for r in resources if r["status"] in statuses]
    resources.sort(key=lambda r: (r["start"], r["status"]))
    return _json(fhir.bundle(resources))


@public_router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def not_supported(path: str, request: Request) -> JSONResponse:
    """Anything else, as an OperationOutcome (FHIR clients read one): another resource type is 404, an
    interaction this server does not offer on one of its types (a write, history) 405."""
    resource_type = path.split("/")[0][:64]
    if resource_type in {r["type"] for r in RESOURCES}:
        text = (
            f"{request.method} {resource_type}/{'...' if '/' in path else ''} is not supported: see /fhir/R4/metadata"
        )
        return _json(fhir.operation_outcome("not-supported", text), 405)
    text = f"resource type {resource_type!r} is not supported: see /fhir/R4/metadata"
    return _json(fhir.operation_outcome("not-supported", text), 404)
