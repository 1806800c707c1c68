"""What scheduler's HTTP routers share: the command dependency, request bodies' base, rate limits.

Every command (POST/PUT/DELETE) takes an `Idempotency-Key` header: the same key with the same request
returns the first answer (the booking happens once); the same key with a different request is a 422.
A conflict is a 409 whose body names the conflicting window, never a 5xx.

Authorization (the token itself is checked for every route, frontdesk.common.auth): a clinic named by
the request must be one of the token's (403); an object named by id (appointment, block, waitlist
offer) answers 404 unless it belongs to one of the token's clinics, exactly as if it did not exist. A
patient is booked by id by any clinic of the network, but their details are changed only by the
clinics that registered them (or a network-wide token): booking grants no such right
(docs/patients.md). Commands are authorized inside their transaction before their idempotency key is
claimed, so a refusal changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal, Principal
from frontdesk.common.commands import Authorize, CommandRequest, IdempotencyKey, owned
from frontdesk.common.ratelimit import rate_limited
from frontdesk.common.service import Runtime

from ..adapters import idempotency, repository
from ..booking import Result

ERRORS = error_responses(404, 409, 413, 422)
# Requests per minute per token subject (FRONTDESK_RATE_LIMITS='{"holds": 120}' overrides per deployment).
HOLDS = rate_limited("holds", per_minute=60)  # a held slot is a slot nobody else can book: hoarding
BOOKINGS = rate_limited("bookings", per_minute=120)
SLOT_SEARCH = rate_limited("slot_search", per_minute=300)  # the most expensive read (FHIR Slot too)
HL7 = rate_limited("hl7", per_minute=600)  # an EHR feed catching up after an outage comes in bursts
LIMITED = error_responses(429)


async def command_request(
    request: Request, key: IdempotencyKey, principal: CurrentPrincipal, runtime: Runtime
) -> CommandRequest:
    return CommandRequest(request, key, principal, runtime, idempotency)


# The dependency of every command: run it with `await command.run(payload, do, authorize)`.
Command = Annotated[CommandRequest, Depends(command_request)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def respond(result: Result) -> tuple[int, dict[str, Any]]:
    return result.status_code, result.body()


def appointment_owner(principal: Principal, appointment_id: str) -> Authorize:
    return owned(principal, "appointment", lambda conn: repository.clinic_of_appointment(conn, appointment_id))
