"""scheduler's HTTP API for the waitlist: join it, accept an offer (the rules every command follows:
api.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field, model_validator

from frontdesk.common.commands import owned
from frontdesk.common.contracts import Id
from frontdesk.common.uow import UnitOfWork

from .. import waitlist
from ..adapters import repository
from ..adapters import waitlist as store
from ..adapters.clinics import clinic_of
from ..domain.slots import Interval
from .api import ERRORS, Body, Command, respond

router = APIRouter(prefix="/v1/waitlist", tags=["waitlist"], responses=ERRORS)


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


@router.post("", status_code=201)
async def join_waitlist(body: WaitlistBody, command: Command) -> JSONResponse:
    command.principal.require_clinic(body.clinic_id)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        if await clinic_of(uow, body.clinic_id) is None:
            return 404, {"detail": f"unknown clinic {body.clinic_id}"}
        waitlist_id = "wl-" + hashlib.sha256(command.key.encode()).hexdigest()[:16]
        window = Interval(body.window_start, body.window_end)
        entry = await store.join(
            uow.conn,
            waitlist_id,
            body.clinic_id,
            body.patient_id,
            body.appointment_type,
            body.provider_id,
            window,
            body.priority,
        )
        return 201, entry.as_json()

    return await command.run(body.model_dump(mode="json"), do)


@router.post("/offers/{offer_id}/accept")
async def accept_offer(offer_id: str, command: Command) -> JSONResponse:
    """The first to accept gets a hold on the slot (confirm it as any hold); the others get 409."""

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        return respond(await waitlist.accept(uow, offer_id))

    authorize = owned(command.principal, "offer", lambda conn: repository.clinic_of_offer(conn, offer_id))
    return await command.run({}, do, authorize)
