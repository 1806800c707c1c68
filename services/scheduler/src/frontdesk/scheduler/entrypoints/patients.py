"""scheduler's HTTP API for patients' contact details (the rules every command follows: api.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from ..adapters import patients
from .api import ERRORS, Body, Command

router = APIRouter(prefix="/v1", tags=["patients"], responses=ERRORS)


class PatientBody(Body):
    display_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)


@router.put("/patients/{patient_id}")
async def put_patient(patient_id: str, body: PatientBody, command: Command) -> JSONResponse:
    """Contact details live in this database only: events carry the patient_id, never these.
    A patient new to the scheduler is registered by the token's clinics; only they (or a network-wide
    token) change the details later: 403 for a clinic that merely books or waitlists the patient, 404
    for any other (docs/patients.md)."""
    principal = command.principal
    register = False

    async def authorize(conn: Connection) -> None:
        nonlocal register
        await patients.lock_patient(conn, patient_id)
        links = await patients.patient_links(conn, patient_id)
        register = principal.claim_patient(links.registered, links.linked, links.on_file)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        await patients.upsert_patient(uow.conn, patient_id, body.display_name, body.phone, body.email)
        if register:
            assert principal.clinics is not None
            await patients.link_patient(uow.conn, patient_id, sorted(principal.clinics))
        return 200, {"patient_id": patient_id}

    return await command.run(body.model_dump(mode="json"), do, authorize)
