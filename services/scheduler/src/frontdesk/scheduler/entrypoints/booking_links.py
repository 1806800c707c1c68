"""scheduler's HTTP API for booking links: the answering service or the callback flow asks for a link
to the clinic's booking page for a caller, and either sends it itself or has followup text it to the
caller's number (`send_to`; the rules every command follows: api.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import Field

from frontdesk.common.contracts import Id
from frontdesk.common.contracts.messaging import E164
from frontdesk.common.ratelimit import rate_limited
from frontdesk.common.uow import UnitOfWork

from .. import booking, online_booking
from ..adapters.clinics import clinic_of
from ..domain import online_booking as rules
from .api import ERRORS, LIMITED, Body, Command

router = APIRouter(
    prefix="/v1", tags=["booking links"], responses={**ERRORS, 503: {"description": "Texting not set up"}}
)
BOOKING_LINKS = rate_limited("booking-links", per_minute=60)


class BookingLinkBody(Body):
    send_to: str | None = Field(
        None,
        pattern=E164,
        description="The caller's mobile number (E.164, e.g. +14155550123): followup texts them the link under the"
        " contact rules (an opted-out number gets nothing; quiet hours, at most one message a day and three a week"
        " per number, the clinic's daily limit). Sealed on the bus, never stored or answered",
    )


@router.post("/clinics/{clinic_id}/booking-links", status_code=201, dependencies=[BOOKING_LINKS], responses=LIMITED)
async def issue_booking_link(clinic_id: Id, command: Command, body: BookingLinkBody | None = None) -> JSONResponse:
    """A signed link to the clinic's booking page, good for one booking within three days (the same
    Idempotency-Key answers the same link). With `send_to`, followup texts it to that number too
    (`text_requested`). 409 when the clinic does not take bookings online."""
    command.principal.require_clinic(clinic_id)
    send_to = body.send_to if body else None
    if send_to is not None and not online_booking.can_send_codes():
        raise HTTPException(503, "texting booking links is not set up (no 'booking-codes' sealing key)")
    # The number enters the idempotency fingerprint only as a keyed digest (a plain hash gives it away).
    number = rules.digest(online_booking.link_keys()[0], "booking-link-send-to", send_to) if send_to else None

    async def do(uow: UnitOfWork) -> tuple[int, Any]:
        clinic = await clinic_of(uow, clinic_id)
        if clinic is None:
            return 404, {"detail": f"unknown clinic {clinic_id}", "reason": "unknown_clinic"}
        if clinic.scheduling.online_booking == "off":
            detail = "the clinic does not take bookings online (scheduling.online_booking is off)"
            return 409, {"detail": detail, "reason": "online_booking_off"}
        issued_by, now = command.principal.subject, booking.now_utc()
        url, expires_at = await online_booking.issue_link(uow, clinic_id, issued_by, now, send_to)
        answer = {"clinic_id": clinic_id, "url": url, "expires_at": expires_at.isoformat()}
        return 201, {**answer, "text_requested": send_to is not None}

    return await command.run({"clinic_id": clinic_id, "send_to": number}, do)
