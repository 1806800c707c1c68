"""scheduler's HTTP API for appointments: slot search, holds, bookings and the visit lifecycle
(the rules every command follows: api.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, Field
from pydantic_core import to_json

from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.contracts import Id
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.service import Runtime
from frontdesk.common.uow import UnitOfWork

from .. import booking, lifecycle, open_times
from ..adapters import repository
from ..adapters.clinics import clinic_of
from ..domain import booking as booking_rules
from ..domain.slots import Interval, SlotRules
from .api import BOOKINGS, ERRORS, HOLDS, LIMITED, SLOT_SEARCH, Body, Command, appointment_owner, respond

router = APIRouter(prefix="/v1", tags=["appointments"], responses=ERRORS)
MAX_SEARCH = timedelta(days=62)


class BookingBody(Body):
    patient_id: Id
    clinic_id: Id
    provider_id: Id
    appointment_type: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(None, description="Only for types without a configured duration")

    def command(self, key: str) -> booking.BookCommand:
        return booking.BookCommand(
            request_id=f"http:{key}",
            patient_id=self.patient_id,
            clinic_id=self.clinic_id,
            provider_id=self.provider_id,
            appointment_type=self.appointment_type,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
        )


class CancelBody(Body):
    by: Literal["patient", "clinic", "system"] = "clinic"


class RescheduleBody(Body):
    starts_at: AwareDatetime


class NoShowBody(Body):
    kind: Literal["no_show", "left_without_visit"] = "no_show"


class CompleteBody(Body):
    visit_id: Id | None = None
    completed_at: AwareDatetime | None = None


async def change_appointment(
    command: Command, appointment_id: str, payload: Any, action: str, **fields: Any
) -> JSONResponse:
    """One lifecycle step (confirm, cancel, check-in, ...) of an appointment of the token's clinics,
    once per idempotency key."""

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        return respond(await lifecycle.change(uow, appointment_id, action, **fields))

    return await command.run(payload, do, appointment_owner(command.principal, appointment_id))


async def book(command: Command, body: BookingBody, *, hold: bool) -> JSONResponse:
    command.principal.require_clinic(body.clinic_id)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        return respond(await booking.book(uow, body.command(command.key), hold=hold, source="http"))

    return await command.run(body.model_dump(mode="json"), do)


# --- slot search ---------------------------------------------------------------------------------


# The answer is built as plain JSON values and encoded by pydantic-core (a third of the json module's
# time): FastAPI would otherwise validate and serialize a month of slots once more against
# `dict[str, Any]` (half of the request's time for a provider's month, benchmarks/scheduler_booking.py).
@router.get("/slots", tags=["slots"], dependencies=[SLOT_SEARCH], responses=LIMITED, response_model=dict[str, Any])
async def search_slots(
    principal: CurrentPrincipal,
    clinic_id: str,
    appointment_type: str,
    start: AwareDatetime,
    end: AwareDatetime,
    runtime: Runtime,
    provider_id: str | None = None,
    duration_minutes: Annotated[int | None, Query(ge=5, le=480)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Free slots by clinic, provider (optional: all providers who offer the type) and type."""
    principal.require_clinic(clinic_id)
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_SEARCH:
        raise HTTPException(422, f"search at most {MAX_SEARCH.days} days at a time")
    assert runtime.pool is not None
    now = booking.now_utc()
    window = Interval(start, end)
    async with runtime.pool.acquire() as conn:
        clinic = await clinic_of(conn, clinic_id)
        if clinic is None:
            raise HTTPException(404, f"unknown clinic {clinic_id}")
        kind = booking_rules.find_type(clinic, appointment_type)
        if kind is None and clinic.scheduling.appointment_types:
            raise HTTPException(422, f"the clinic has no appointment type {appointment_type}")
        if provider_id is not None:
            provider = booking_rules.find_provider(clinic, provider_id)
            if provider is None:
                raise HTTPException(404, f"provider {provider_id} does not work at {clinic_id}")
            providers = [provider]
        else:
            providers = [p for p in clinic.providers if booking_rules.offers_type(p, appointment_type)]
        duration = timedelta(minutes=duration_minutes) if duration_minutes else None
        out: list[dict[str, Any]] = []
        for provider in providers:
            if booking_rules.offers_type(provider, appointment_type):
                rules = booking_rules.rules_for(clinic, provider, kind, duration)
                out += await _free_slots(conn, rules, provider, window, now, limit)
    out.sort(key=lambda s: (s["starts_at"], s["provider_id"]))
    answer = {"clinic_id": clinic_id, "appointment_type": appointment_type, "slots": out[:limit]}
    return Response(to_json(answer), media_type="application/json")


async def _free_slots(
    conn: Connection, rules: SlotRules, provider: Provider, window: Interval, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """A provider's free slots in `window`, as the answer's JSON values."""
    slots = await open_times.free_slots(conn, provider, rules, window, now, limit)
    zone, name = rules.zone, rules.zone.key
    return [
        {
            "provider_id": provider.provider_id,
            "starts_at": slot.start.isoformat(),
            "ends_at": slot.end.isoformat(),
            "local_start": slot.start.astimezone(zone).isoformat(),
            "timezone": name,
        }
        for slot in slots
    ]


# --- booking -------------------------------------------------------------------------------------


@router.post("/holds", status_code=201, dependencies=[HOLDS], responses=LIMITED)
async def hold(body: BookingBody, command: Command) -> JSONResponse:
    """Hold a slot (FHIR Appointment pending / Slot busy-tentative) for the clinic's hold TTL."""
    return await book(command, body, hold=True)


@router.post("/holds/{appointment_id}/confirm")
async def confirm(appointment_id: str, command: Command) -> JSONResponse:
    return await change_appointment(command, appointment_id, {}, "confirm")


@router.post("/appointments", status_code=201, dependencies=[BOOKINGS], responses=LIMITED)
async def book_directly(body: BookingBody, command: Command) -> JSONResponse:
    """Direct booking for trusted callers (front desk, EHR): no hold step."""
    return await book(command, body, hold=False)


@router.get("/appointments/{appointment_id}")
async def get_appointment(appointment_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        appointment = await repository.get_appointment(conn, appointment_id)
    principal.require_owner(appointment.clinic_id if appointment else None, "appointment")
    assert appointment is not None
    return appointment.columns()


# --- the visit lifecycle -------------------------------------------------------------------------


@router.post("/appointments/{appointment_id}/cancel")
async def cancel(appointment_id: str, body: CancelBody, command: Command) -> JSONResponse:
    """Cancel (late if less than the clinic's late-cancel hours, 24 by default, before the start)."""
    return await change_appointment(command, appointment_id, body.model_dump(mode="json"), "cancel", by=body.by)


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule(appointment_id: str, body: RescheduleBody, command: Command) -> JSONResponse:
    payload = body.model_dump(mode="json")
    return await change_appointment(command, appointment_id, payload, "reschedule", starts_at=body.starts_at)


@router.post("/appointments/{appointment_id}/check-in")
async def check_in(appointment_id: str, command: Command) -> JSONResponse:
    return await change_appointment(command, appointment_id, {}, "check_in")


@router.post("/appointments/{appointment_id}/no-show")
async def no_show(appointment_id: str, body: NoShowBody, command: Command) -> JSONResponse:
    """No-show (never came) or left without visit (checked in, left before being seen)."""
    return await change_appointment(command, appointment_id, body.model_dump(mode="json"), body.kind)


@router.post("/appointments/{appointment_id}/complete")
async def complete(appointment_id: str, body: CompleteBody, command: Command) -> JSONResponse:
    """The visit finished: visit.completed is emitted once, on the transition."""
    payload = body.model_dump(mode="json")
    fields = {"visit_id": body.visit_id, "completed_at": body.completed_at}
    return await change_appointment(command, appointment_id, payload, "complete", **fields)
