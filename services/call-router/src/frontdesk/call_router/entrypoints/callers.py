"""The telephony integration registers callers' numbers: the only way a number reaches the router.

A number is kept sealed under the router's own key for 30 days (caller_numbers.py) and goes to a vendor
only sealed with that vendor's key, on its own topic. It is never read back over HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts.messaging import E164
from frontdesk.common.service import Runtime

from .. import caller_numbers

router = APIRouter(prefix="/v1", tags=["callers"], responses=error_responses(403, 404, 422, 503))
_ID = r"^[A-Za-z0-9._:@-]+$"
ClinicId = Annotated[str, Path(pattern=_ID, max_length=128)]
CallerToken = Annotated[str, Path(pattern=_ID, max_length=128, description="The caller_token of call.received")]


class CallerNumber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: str = Field(pattern=E164, description="E.164, e.g. +14155550123")


class CallerRegistered(BaseModel):
    clinic_id: str
    caller_token: str
    expires_at: AwareDatetime = Field(description="The number is forgotten then (register it again to keep it)")


@router.put("/clinics/{clinic_id}/callers/{caller_token}")
async def register_caller(
    clinic_id: ClinicId, caller_token: CallerToken, body: CallerNumber, principal: CurrentPrincipal, runtime: Runtime
) -> CallerRegistered:
    """Register (or replace) the number of the caller behind `caller_token`, so that an answering-service
    vendor handed one of their calls can call back. Stored sealed; never returned."""
    principal.require_clinic(clinic_id)
    if not caller_numbers.KEYRING.has(caller_numbers.OWN_KEYS):
        raise HTTPException(503, f"callback numbers are not configured: no '{caller_numbers.OWN_KEYS}' sealing key")
    async with runtime.unit_of_work() as uow:
        if await get_clinic(uow.conn, clinic_id) is None:
            raise HTTPException(404, f"no clinic {clinic_id} (not configured, or not yet seen by call-router)")
        expires_at = await caller_numbers.register(uow, clinic_id, caller_token, body.phone_number, datetime.now(UTC))
    return CallerRegistered(clinic_id=clinic_id, caller_token=caller_token, expires_at=expires_at)


@router.delete("/clinics/{clinic_id}/callers/{caller_token}", status_code=204)
async def forget_caller(
    clinic_id: ClinicId, caller_token: CallerToken, principal: CurrentPrincipal, runtime: Runtime
) -> Response:
    """Forget a caller's number now (idempotent: 204 whether or not one was on file)."""
    principal.require_clinic(clinic_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        await caller_numbers.forget(conn, clinic_id, caller_token)
    return Response(status_code=204)
