"""scheduler's HTTP API for providers: blocked time and weekly availability templates (the rules
every command follows: api.py)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, Field, model_validator

from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.contracts import Id, clock
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.service import Runtime
from frontdesk.common.uow import UnitOfWork

from ..adapters import repository
from ..adapters.clinics import clinic_of
from ..domain import booking as booking_rules
from ..domain.slots import Interval
from .api import ERRORS, Body, Command

router = APIRouter(prefix="/v1/providers", tags=["providers"], responses=ERRORS)


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


class AvailabilityBody(Body):
    clinic_id: Id
    availability: dict[str, list[str]] = Field(
        description='Weekly template, provider-local wall clock: {"mon": ["09:00-12:00", "13:00-17:00"]}'
    )


def _template(provider: Provider) -> dict[str, list[str]] | None:
    if provider.availability is None:
        return None
    return {day: [clock.format_range(i.starts, i.ends) for i in ivs] for day, ivs in provider.availability.items()}


# --- blocked time --------------------------------------------------------------------------------


@router.post("/{provider_id}/blocks", status_code=201)
async def add_block(provider_id: str, body: BlockBody, command: Command) -> JSONResponse:
    """Block time (vacation, meeting). Refused with 409 if an active appointment is in the way."""
    command.principal.require_clinic(body.clinic_id)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await clinic_of(uow, body.clinic_id)
        if clinic is None or booking_rules.find_provider(clinic, provider_id) is None:
            return 404, {"detail": f"provider {provider_id} is not known at {body.clinic_id}"}
        block_id = "block-" + hashlib.sha256(command.key.encode()).hexdigest()[:16]
        window = Interval(body.starts_at, body.ends_at)
        conflict = await repository.add_block(uow.conn, block_id, body.clinic_id, provider_id, window, body.kind)
        if conflict is not None:
            return 409, {"detail": conflict.detail(), "reason": "slot_taken", "conflict": conflict.as_json()}
        return 201, {"block_id": block_id, "provider_id": provider_id, **body.model_dump(mode="json")}

    return await command.run(body.model_dump(mode="json"), do)


@router.get("/{provider_id}/blocks")
async def list_blocks(
    provider_id: str, principal: CurrentPrincipal, page: Page, request: Request, response: Response, runtime: Runtime
) -> list[dict[str, Any]]:
    """The provider's blocks at the token's clinics (a provider may work at several), by start (a
    page: see `X-Next-Cursor`)."""
    after = page.after(datetime.fromisoformat, str)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        principal.require_any(await repository.clinics_of_provider(conn, provider_id), "provider")
        rows = await repository.blocks_of(conn, provider_id, principal.visible_clinics(), after, page.fetch)
    shown = array_page(request, response, page, rows, lambda block: [block.starts_at, block.block_id])
    return [asdict(block) for block in shown]


@router.delete("/{provider_id}/blocks/{block_id}")
async def remove_block(provider_id: str, block_id: str, command: Command) -> JSONResponse:
    async def authorize(conn: Connection) -> None:
        # A block that is gone may have been removed with this very key: let the command replay the
        # answer (or say 404, in the same words as for another clinic's block).
        clinic_id = await repository.clinic_of_block(conn, provider_id, block_id)
        if clinic_id is not None:
            command.principal.require_owner(clinic_id, "block")

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        removed = await repository.remove_block(uow.conn, provider_id, block_id)
        return (200, {"removed": block_id}) if removed else (404, {"detail": "unknown block"})

    return await command.run({}, do, authorize)


# --- weekly templates ----------------------------------------------------------------------------


@router.put("/{provider_id}/availability")
async def put_availability(provider_id: str, body: AvailabilityBody, command: Command) -> JSONResponse:
    """Set a provider's weekly template (replaces the configured one until deleted). Existing
    appointments stay; new bookings and slot search follow the new template."""
    command.principal.require_clinic(body.clinic_id)
    try:
        checked = Provider.model_validate({"provider_id": provider_id, "availability": body.availability})
    except ValueError as exc:
        raise HTTPException(422, f"invalid availability: {exc}") from None
    template = _template(checked)
    assert template is not None

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await clinic_of(uow, body.clinic_id)
        if clinic is None or booking_rules.find_provider(clinic, provider_id) is None or not clinic.providers:
            return 404, {"detail": f"provider {provider_id} is not listed at {body.clinic_id}"}
        await repository.save_template(uow.conn, body.clinic_id, provider_id, template)
        return 200, {"clinic_id": body.clinic_id, "provider_id": provider_id, "availability": template}

    return await command.run(body.model_dump(mode="json"), do)


@router.get("/{provider_id}/availability")
async def get_availability(
    provider_id: str, clinic_id: str, principal: CurrentPrincipal, runtime: Runtime
) -> dict[str, Any]:
    """The template in force: set over HTTP, else from the configuration (None: clinic hours)."""
    principal.require_clinic(clinic_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic = await clinic_of(conn, clinic_id)
    provider = booking_rules.find_provider(clinic, provider_id) if clinic else None
    if provider is None:
        raise HTTPException(404, f"provider {provider_id} is not known at {clinic_id}")
    return {"clinic_id": clinic_id, "provider_id": provider_id, "availability": _template(provider)}


@router.delete("/{provider_id}/availability")
async def delete_availability(provider_id: str, clinic_id: str, command: Command) -> JSONResponse:
    """Back to the configured template."""
    command.principal.require_clinic(clinic_id)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        await repository.delete_template(uow.conn, clinic_id, provider_id)
        return 200, {"clinic_id": clinic_id, "provider_id": provider_id, "reverted": True}

    return await command.run({"clinic_id": clinic_id}, do)
