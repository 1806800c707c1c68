"""scheduler's HTTP API: slot search, holds, bookings, the visit lifecycle, blocks, patients, waitlist.

Every command (POST/PUT/DELETE) takes an `Idempotency-Key` header: the same key with the same request
returns the first answer (the booking happens once); the same key with a different request is a 422.
A conflict is a 409 whose body names the conflicting window, never a 5xx.

Authorization (the token itself is checked for every route of this router, frontdesk.common.auth): a
clinic named by the request must be one of the token's (403); an object named by id (appointment,
block, waitlist offer) answers 404 unless it belongs to one of the token's clinics, exactly as if it
did not exist. A patient is booked by id by any clinic of the network, but their details are changed
only by the clinics that registered them (or a network-wide token): booking grants no such right
(docs/patients.md). Commands are authorized inside their transaction before their idempotency key is
claimed, so a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal, Principal
from frontdesk.common.contracts import Id
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.ratelimit import rate_limited
from frontdesk.common.service import ServiceRuntime, runtime_of
from frontdesk.common.uow import UnitOfWork

from .. import commands, domain, hl7_inbound, waitlist
from ..adapters import repository
from ..commands import Result
from ..domain.slots import Interval, generate_slots

router = APIRouter(prefix="/v1", tags=["appointments"], responses=error_responses(404, 409, 413, 422))


async def current_runtime(request: Request) -> ServiceRuntime:
    """runtime_of as an async dependency: FastAPI runs sync dependencies in a thread pool, a thread
    hand-off per request that measurably slowed the booking path."""
    return runtime_of(request)


MAX_SEARCH = timedelta(days=62)
# Requests per minute per token subject (FRONTDESK_RATE_LIMITS='{"holds": 120}' overrides per deployment).
HOLDS = rate_limited("holds", per_minute=60)  # a held slot is a slot nobody else can book: hoarding
BOOKINGS = rate_limited("bookings", per_minute=120)
SLOT_SEARCH = rate_limited("slot_search", per_minute=300)  # the most expensive read (FHIR Slot too)
HL7 = rate_limited("hl7", per_minute=600)  # an EHR feed catching up after an outage comes in bursts
LIMITED = error_responses(429)


async def client_idempotency_key(
    principal: CurrentPrincipal,
    key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Required on every command: the same key and request books once and answers the same.",
        ),
    ],
) -> str:
    """The client's key, made its own: two clients who happen to choose the same key never see each
    other's answers or block each other. A digest, so no token subject reaches a booking's request_id
    (which travels on shared topics)."""
    return hashlib.sha256(f"{principal.subject}\n{key}".encode()).hexdigest()[:40]


IdempotencyKey = Annotated[str, Depends(client_idempotency_key)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BookingBody(Body):
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(None, description="Only for types without a configured duration")


class CancelBody(Body):
    by: Literal["patient", "clinic", "system"] = "clinic"


class RescheduleBody(Body):
    starts_at: AwareDatetime


class NoShowBody(Body):
    kind: Literal["no_show", "left_without_visit"] = "no_show"


class CompleteBody(Body):
    visit_id: Id | None = None
    completed_at: AwareDatetime | None = None


class BlockBody(Body):
    clinic_id: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: Literal["vacation", "blocked", "other"] = "blocked"

    @model_validator(mode="after")
    def _ordered(self) -> BlockBody:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PatientBody(Body):
    display_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)


class WaitlistBody(Body):
    clinic_id: Id
    patient_id: Id
    appointment_type: Id
    provider_id: Id | None = None
    window_start: AwareDatetime
    window_end: AwareDatetime
    priority: int = Field(0, ge=-100, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> WaitlistBody:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


def _respond(result: Result) -> tuple[int, dict[str, Any]]:
    return result.status_code, result.body()


# Raises (403/404) when the caller may not run the command; runs in the command's transaction.
Authorize = Callable[[Connection], Awaitable[None]]


def owned(principal: Principal, what: str, clinic_of: Callable[[Connection], Awaitable[str | None]]) -> Authorize:
    """The object `clinic_of` finds must belong to one of the token's clinics (else 404, as if missing)."""

    async def check(conn: Connection) -> None:
        principal.require_owner(await clinic_of(conn), what)

    return check


def _appointment_owner(principal: Principal, appointment_id: str) -> Authorize:
    return owned(principal, "appointment", lambda conn: repository.clinic_of_appointment(conn, appointment_id))


async def run_command(
    runtime: ServiceRuntime,
    request: Request,
    key: str,
    payload: Any,
    command: Callable[[UnitOfWork], Awaitable[tuple[int, Any]]],
    authorize: Authorize | None = None,
) -> JSONResponse:
    """Run `command` once per idempotency key, in one transaction with its answer. `authorize` runs
    first, before the key is claimed: a refused request leaves nothing behind, not even its key."""
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.url.path, payload], sort_keys=True, default=str).encode()
    ).hexdigest()
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        if authorize is not None:
            await authorize(uow.conn)
        seen = await repository.claim_command(uow.conn, key, fingerprint)
        if seen == "mismatch":
            return JSONResponse(
                {"detail": "this Idempotency-Key was already used for a different request"}, status_code=422
            )
        if seen is not None:
            assert not isinstance(seen, str)
            status, body = seen
            return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
        status, body = await command(uow)
        await repository.save_command(uow.conn, key, status, body)
        if status >= 400:
            # A refusal changed nothing but its idempotency record: no need to wait for the WAL flush.
            # Were it lost in a crash, a retry would simply be evaluated again (nothing was booked).
            await uow.conn.execute("SET LOCAL synchronous_commit TO OFF")
    return JSONResponse(body, status_code=status)


async def change_appointment(
    runtime: ServiceRuntime,
    request: Request,
    key: str,
    principal: Principal,
    appointment_id: str,
    payload: Any,
    action: str,
    **fields: Any,
) -> JSONResponse:
    """One lifecycle step (confirm, cancel, check-in, ...) of an appointment of the token's clinics,
    once per idempotency key."""

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        return _respond(await commands.change(uow, appointment_id, action, **fields))

    return await run_command(runtime, request, key, payload, command, _appointment_owner(principal, appointment_id))


def _book_command(key: str, body: BookingBody) -> commands.BookCommand:
    return commands.BookCommand(
        request_id=f"http:{key}",
        patient_id=body.patient_id,
        clinic_id=body.clinic_id,
        provider_id=body.provider_id,
        appointment_type=body.appointment_type,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )


# --- slot search ---------------------------------------------------------------------------------


@router.get("/slots", tags=["slots"], dependencies=[SLOT_SEARCH], responses=LIMITED)
async def search_slots(
    principal: CurrentPrincipal,
    clinic_id: str,
    appointment_type: str,
    start: AwareDatetime,
    end: AwareDatetime,
    provider_id: str | None = None,
    duration_minutes: Annotated[int | None, Query(ge=5, le=480)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> dict[str, Any]:
    """Free slots by clinic, provider (optional: all providers who offer the type) and type."""
    principal.require_clinic(clinic_id)
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_SEARCH:
        raise HTTPException(422, f"search at most {MAX_SEARCH.days} days at a time")
    assert runtime.pool is not None
    now = commands.now_utc()
    window = Interval(start, end)
    async with runtime.pool.acquire() as conn:
        clinic = await commands.clinic_of(conn, clinic_id)
        if clinic is None:
            raise HTTPException(404, f"unknown clinic {clinic_id}")
        kind = domain.find_type(clinic, appointment_type)
        if kind is None and clinic.scheduling.appointment_types:
            raise HTTPException(422, f"the clinic has no appointment type {appointment_type}")
        if provider_id is not None:
            provider = domain.find_provider(clinic, provider_id)
            if provider is None:
                raise HTTPException(404, f"provider {provider_id} does not work at {clinic_id}")
            providers = [provider]
        else:
            providers = [p for p in clinic.providers if domain.offers_type(p, appointment_type)]
        duration = timedelta(minutes=duration_minutes) if duration_minutes else None
        out: list[dict[str, Any]] = []
        for provider in providers:
            if not domain.offers_type(provider, appointment_type):
                continue
            rules = domain.rules_for(clinic, provider, kind, duration)
            busy = await repository.busy(
                conn,
                provider.provider_id,
                Interval(
                    start - rules.buffer_after - timedelta(hours=8), end + rules.buffer_before + timedelta(hours=8)
                ),
            )
            busy += domain.exception_intervals(provider)
            for slot in generate_slots(rules, window, busy, now, limit=limit):
                out.append(
                    {
                        "provider_id": provider.provider_id,
                        "starts_at": slot.start.isoformat(),
                        "ends_at": slot.end.isoformat(),
                        "local_start": slot.start.astimezone(rules.zone).isoformat(),
                        "timezone": rules.zone.key,
                    }
                )
    out.sort(key=lambda s: (s["starts_at"], s["provider_id"]))
    return {"clinic_id": clinic_id, "appointment_type": appointment_type, "slots": out[:limit]}


# --- booking -------------------------------------------------------------------------------------


@router.post("/holds", status_code=201, dependencies=[HOLDS], responses=LIMITED)
async def hold(
    body: BookingBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Hold a slot (FHIR Appointment pending / Slot busy-tentative) for the clinic's hold TTL."""
    principal.require_clinic(body.clinic_id)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        return _respond(await commands.book(uow, _book_command(key, body), hold=True, source="http"))

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command)


@router.post("/holds/{appointment_id}/confirm")
async def confirm(
    appointment_id: str,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    return await change_appointment(runtime, request, key, principal, appointment_id, {}, "confirm")


@router.post("/appointments", status_code=201, dependencies=[BOOKINGS], responses=LIMITED)
async def book_directly(
    body: BookingBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Direct booking for trusted callers (front desk, EHR): no hold step."""
    principal.require_clinic(body.clinic_id)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        return _respond(await commands.book(uow, _book_command(key, body), hold=False, source="http"))

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command)


@router.get("/appointments/{appointment_id}")
async def get_appointment(
    appointment_id: str, principal: CurrentPrincipal, runtime: ServiceRuntime = Depends(current_runtime)
) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        appointment = await repository.get_appointment(conn, appointment_id)
    principal.require_owner(appointment["clinic_id"] if appointment else None, "appointment")
    assert appointment is not None
    return appointment


@router.post("/appointments/{appointment_id}/cancel")
async def cancel(
    appointment_id: str,
    body: CancelBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Cancel (late if less than the clinic's late-cancel hours, 24 by default, before the start)."""

    return await change_appointment(
        runtime, request, key, principal, appointment_id, body.model_dump(mode="json"), "cancel", by=body.by
    )


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule(
    appointment_id: str,
    body: RescheduleBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    return await change_appointment(
        runtime,
        request,
        key,
        principal,
        appointment_id,
        body.model_dump(mode="json"),
        "reschedule",
        starts_at=body.starts_at,
    )


@router.post("/appointments/{appointment_id}/check-in")
async def check_in(
    appointment_id: str,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    return await change_appointment(runtime, request, key, principal, appointment_id, {}, "check_in")


@router.post("/appointments/{appointment_id}/no-show")
async def no_show(
    appointment_id: str,
    body: NoShowBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """No-show (never came) or left without visit (checked in, left before being seen)."""

    return await change_appointment(
        runtime, request, key, principal, appointment_id, body.model_dump(mode="json"), body.kind
    )


@router.post("/appointments/{appointment_id}/complete")
async def complete(
    appointment_id: str,
    body: CompleteBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """The visit finished: visit.completed is emitted once, on the transition."""

    return await change_appointment(
        runtime,
        request,
        key,
        principal,
        appointment_id,
        body.model_dump(mode="json"),
        "complete",
        visit_id=body.visit_id,
        completed_at=body.completed_at,
    )


# --- blocked time --------------------------------------------------------------------------------


@router.post("/providers/{provider_id}/blocks", status_code=201, tags=["providers"])
async def add_block(
    provider_id: str,
    body: BlockBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Block time (vacation, meeting). Refused with 409 if an active appointment is in the way."""
    principal.require_clinic(body.clinic_id)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await commands.clinic_of(uow, body.clinic_id)
        if clinic is None or domain.find_provider(clinic, provider_id) is None:
            return 404, {"detail": f"provider {provider_id} is not known at {body.clinic_id}"}
        block_id = "block-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        window = Interval(body.starts_at, body.ends_at)
        conflict = await repository.add_block(uow.conn, block_id, body.clinic_id, provider_id, window, body.kind)
        if conflict is not None:
            return 409, {"detail": conflict.detail(), "reason": "slot_taken", "conflict": conflict.as_json()}
        return 201, {"block_id": block_id, "provider_id": provider_id, **body.model_dump(mode="json")}

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command)


@router.get("/providers/{provider_id}/blocks", tags=["providers"])
async def list_blocks(
    provider_id: str,
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> list[dict[str, Any]]:
    """The provider's blocks at the token's clinics (a provider may work at several), by start (a
    page: see `X-Next-Cursor`)."""
    after = page.after(datetime.fromisoformat, str)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        principal.require_any(await repository.clinics_of_provider(conn, provider_id), "provider")
        rows = await repository.blocks_of(conn, provider_id, principal.visible_clinics(), after, page.fetch)
    return array_page(request, response, page, rows, lambda row: [row["starts_at"], row["block_id"]])


@router.delete("/providers/{provider_id}/blocks/{block_id}", tags=["providers"])
async def remove_block(
    provider_id: str,
    block_id: str,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    async def authorize(conn: Connection) -> None:
        # A block that is gone may have been removed with this very key: let the command replay the
        # answer (or say 404, in the same words as for another clinic's block).
        clinic_id = await repository.clinic_of_block(conn, provider_id, block_id)
        if clinic_id is not None:
            principal.require_owner(clinic_id, "block")

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        removed = await repository.remove_block(uow.conn, provider_id, block_id)
        return (200, {"removed": block_id}) if removed else (404, {"detail": "unknown block"})

    return await run_command(runtime, request, key, {}, command, authorize)


class AvailabilityBody(Body):
    clinic_id: Id
    availability: dict[str, list[str]] = Field(
        description='Weekly template, provider-local wall clock: {"mon": ["09:00-12:00", "13:00-17:00"]}'
    )


@router.put("/providers/{provider_id}/availability", tags=["providers"])
async def put_availability(
    provider_id: str,
    body: AvailabilityBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Set a provider's weekly template (replaces the configured one until deleted). Existing
    appointments stay; new bookings and slot search follow the new template."""
    principal.require_clinic(body.clinic_id)
    try:
        checked = Provider.model_validate({"provider_id": provider_id, "availability": body.availability})
    except ValueError as exc:
        raise HTTPException(422, f"invalid availability: {exc}") from None
    assert checked.availability is not None
    template = {day: [f"{i.starts:%H:%M}-{i.ends:%H:%M}" for i in ivs] for day, ivs in checked.availability.items()}

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await commands.clinic_of(uow, body.clinic_id)
        if clinic is None or domain.find_provider(clinic, provider_id) is None or not clinic.providers:
            return 404, {"detail": f"provider {provider_id} is not listed at {body.clinic_id}"}
        await uow.conn.execute(
            "INSERT INTO provider_templates (clinic_id, provider_id, availability) VALUES ($1, $2, $3)"
            " ON CONFLICT (clinic_id, provider_id) DO UPDATE SET availability = EXCLUDED.availability,"
            " updated_at = clock_timestamp()",
            body.clinic_id,
            provider_id,
            template,
        )
        return 200, {"clinic_id": body.clinic_id, "provider_id": provider_id, "availability": template}

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command)


@router.get("/providers/{provider_id}/availability", tags=["providers"])
async def get_availability(
    provider_id: str, clinic_id: str, principal: CurrentPrincipal, runtime: ServiceRuntime = Depends(current_runtime)
) -> dict[str, Any]:
    """The template in force: set over HTTP, else from the configuration (None: clinic hours)."""
    principal.require_clinic(clinic_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic = await commands.clinic_of(conn, clinic_id)
    provider = domain.find_provider(clinic, provider_id) if clinic else None
    if provider is None:
        raise HTTPException(404, f"provider {provider_id} is not known at {clinic_id}")
    template = (
        None
        if provider.availability is None
        else {day: [f"{i.starts:%H:%M}-{i.ends:%H:%M}" for i in ivs] for day, ivs in provider.availability.items()}
    )
    return {"clinic_id": clinic_id, "provider_id": provider_id, "availability": template}


@router.delete("/providers/{provider_id}/availability", tags=["providers"])
async def delete_availability(
    provider_id: str,
    clinic_id: str,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Back to the configured template."""
    principal.require_clinic(clinic_id)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        await uow.conn.execute(
            "DELETE FROM provider_templates WHERE clinic_id = $1 AND provider_id = $2", clinic_id, provider_id
        )
        return 200, {"clinic_id": clinic_id, "provider_id": provider_id, "reverted": True}

    return await run_command(runtime, request, key, {"clinic_id": clinic_id}, command)


# --- patients ------------------------------------------------------------------------------------


@router.put("/patients/{patient_id}", tags=["patients"])
async def put_patient(
    patient_id: str,
    body: PatientBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """Contact details live in this database only: events carry the patient_id, never these.
    A patient new to the scheduler is registered by the token's clinics; only they (or a network-wide
    token) change the details later: 403 for a clinic that merely books or waitlists the patient, 404
    for any other (docs/patients.md)."""
    register = False

    async def authorize(conn: Connection) -> None:
        nonlocal register
        await repository.lock_patient(conn, patient_id)
        links = await repository.patient_links(conn, patient_id)
        register = principal.claim_patient(links.registered, links.linked, links.on_file)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        await repository.upsert_patient(uow.conn, patient_id, body.display_name, body.phone, body.email)
        if register:
            assert principal.clinics is not None
            await repository.link_patient(uow.conn, patient_id, sorted(principal.clinics))
        return 200, {"patient_id": patient_id}

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command, authorize)


# --- waitlist ------------------------------------------------------------------------------------


@router.post("/waitlist", status_code=201, tags=["waitlist"])
async def join_waitlist(
    body: WaitlistBody,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    principal.require_clinic(body.clinic_id)

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        if await commands.clinic_of(uow, body.clinic_id) is None:
            return 404, {"detail": f"unknown clinic {body.clinic_id}"}
        waitlist_id = "wl-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        row = await waitlist.join(
            uow,
            body.clinic_id,
            body.patient_id,
            body.appointment_type,
            body.provider_id,
            Interval(body.window_start, body.window_end),
            body.priority,
            waitlist_id,
        )
        return 201, json.loads(json.dumps(row, default=_iso))

    return await run_command(runtime, request, key, body.model_dump(mode="json"), command)


@router.post("/waitlist/offers/{offer_id}/accept", tags=["waitlist"])
async def accept_offer(
    offer_id: str,
    request: Request,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    runtime: ServiceRuntime = Depends(current_runtime),
) -> JSONResponse:
    """The first to accept gets a hold on the slot (confirm it as any hold); the others get 409."""

    async def command(uow: UnitOfWork) -> tuple[int, Any]:
        return _respond(await waitlist.accept(uow, offer_id))

    authorize = owned(principal, "offer", lambda conn: repository.clinic_of_offer(conn, offer_id))
    return await run_command(runtime, request, key, {}, command, authorize)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# --- HL7 v2 inbound ------------------------------------------------------------------------------

HL7_MEDIA = "x-application/hl7-v2+er7"


@router.post(
    "/hl7/{clinic_id}", tags=["interoperability"], response_class=Response, dependencies=[HL7], responses=LIMITED
)
async def receive_hl7(
    clinic_id: str, request: Request, principal: CurrentPrincipal, runtime: ServiceRuntime = Depends(current_runtime)
) -> Response:
    """One ER7 message (SIU^S12/S13/S14/S15/S26, ADT^A03); the answer is an HL7 ACK (AA, AE or AR).
    MSH-10 is the idempotency key: a repeated message gets the same ACK and changes nothing."""
    principal.require_clinic(clinic_id)
    raw = await request.body()
    if len(raw) > 256_000:
        raise HTTPException(413, "an HL7 message over HTTP is limited to 256 kB")
    text = raw.decode("utf-8", errors="replace")
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        answer = await hl7_inbound.receive(uow, clinic_id, text)
    return Response(answer, media_type=HL7_MEDIA)


@router.get("/hl7/quarantine", tags=["interoperability"])
async def hl7_quarantine(
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: ServiceRuntime = Depends(current_runtime),
    clinic_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> list[dict[str, Any]]:
    """Quarantined messages of the token's clinics (or of `clinic_id`, which the token must see),
    newest first (control ids and reasons; the raw messages stay in the database; a page: see
    `X-Next-Cursor`)."""
    if clinic_id is not None:
        principal.require_clinic(clinic_id)
    clinics = [clinic_id] if clinic_id is not None else principal.visible_clinics()
    after = page.after(datetime.fromisoformat, str, str, str)
    assert runtime.pool is not None
    rows = await runtime.pool.fetch(
        "SELECT clinic_id, sending_facility, control_id, message_type, reason, received_at FROM hl7_messages"
        " WHERE outcome = 'quarantined' AND ($1::text[] IS NULL OR clinic_id = ANY($1)) AND ($2::timestamptz IS NULL"
        " OR (received_at, clinic_id, sending_facility, control_id) < ($2, $3, $4, $5))"
        " ORDER BY received_at DESC, clinic_id DESC, sending_facility DESC, control_id DESC LIMIT $6",
        clinics,
        *after,
        page.fetch,
    )
    key = ("received_at", "clinic_id", "sending_facility", "control_id")
    return array_page(request, response, page, [dict(r) for r in rows], lambda row: [row[k] for k in key])
