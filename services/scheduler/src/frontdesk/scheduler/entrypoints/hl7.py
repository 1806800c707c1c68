"""scheduler's HTTP API for HL7 v2 from an EHR: one message in, its ACK out; the quarantine."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.service import Runtime

from ..adapters import hl7_messages, hl7v2
from ..adapters.hl7_ack import Answer, ack
from ..hl7 import receive
from .api import ERRORS, HL7, LIMITED

router = APIRouter(prefix="/v1/hl7", tags=["interoperability"], responses=ERRORS)
HL7_MEDIA = "x-application/hl7-v2+er7"
MAX_MESSAGE_BYTES = 256_000


@router.post("/{clinic_id}", response_class=Response, dependencies=[HL7], responses=LIMITED)
async def receive_hl7(clinic_id: str, request: Request, principal: CurrentPrincipal, runtime: Runtime) -> Response:
    """One ER7 message (SIU^S12/S13/S14/S15/S17/S26, ADT^A03/A13; other ADT events are taken unused)
    in the character set MSH-18 names (else UTF-8); the answer is an HL7 ACK (AA, or AE/AR with an ERR
    segment) in the same character set. MSH-10 is the idempotency key: a repeated message gets the
    same answer (MSA code and text) and changes nothing."""
    principal.require_clinic(clinic_id)
    raw = await request.body()
    text, codec = hl7v2.decode(raw)
    if len(raw) > MAX_MESSAGE_BYTES:  # an ACK, not an HTTP error: an interface engine resends those forever
        too_long = f"the message has {len(raw)} bytes: at most {MAX_MESSAGE_BYTES} over HTTP"
        answer = ack(text, Answer("AR", too_long))  # ERR-3 207: no code of table 0357 says "too long"
    else:
        async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
            answer = await receive(uow, clinic_id, text)
    return Response(answer.encode(codec, errors="replace"), media_type=f"{HL7_MEDIA}; charset={codec}")


@router.get("/quarantine")
async def hl7_quarantine(
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
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
    async with runtime.pool.acquire() as conn:
        rows = await hl7_messages.quarantined(conn, clinics, after, page.fetch)
    shown = array_page(
        request, response, page, rows, lambda m: [m.received_at, m.clinic_id, m.sending_facility, m.control_id]
    )
    return [asdict(message) for message in shown]
