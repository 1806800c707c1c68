"""scheduler's HTTP API for booking links: the answering service or the callback flow asks for a link
to the clinic's booking page and sends it to a caller (the rules every command follows: api.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from frontdesk.common.contracts import Id
from frontdesk.common.ratelimit import rate_limited
from frontdesk.common.uow import UnitOfWork

from .. import booking, online_booking
from ..adapters.clinics import clinic_of
from .api import ERRORS, LIMITED, Command

router = APIRouter(prefix="/v1", tags=["booking links"], responses=ERRORS)
BOOKING_LINKS = rate_limited("booking-links", per_minute=60)


@router.post("/clinics/{clinic_id}/booking-links", status_code=201, dependencies=[BOOKING_LINKS], responses=LIMITED)
async def issue_booking_link(clinic_id: Id, command: Command) -> JSONResponse:
    """A signed link to the clinic's booking page, good for one booking within three days (the same
    Idempotency-Key answers the same link). 409 when the clinic does not take bookings online."""
    command.principal.require_clinic(clinic_id)

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await clinic_of(uow, clinic_id)
        if clinic is None:
            return 404, {"detail": f"unknown clinic {clinic_id}", "reason": "unknown_clinic"}
        if clinic.scheduling.online_booking == "off":
            detail = "the clinic does not take bookings online (scheduling.online_booking is off)"
            return 409, {"detail": detail, "reason": "online_booking_off"}
        url, expires_at = await online_booking.issue_link(uow, clinic_id, command.principal.subject, booking.now_utc())
        return 201, {"clinic_id": clinic_id, "url": url, "expires_at": expires_at.isoformat()}

    return await command.run({"clinic_id": clinic_id}, do)
