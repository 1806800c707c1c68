"""The routing question over HTTP, for proxies that ask by HTTP rather than by SIP redirect.

POST /v1/sip/route {sip_call_id, dialled, caller, refused_with?} -> {action: ring|hangup|fallback, uris, timeout_ms,
reason}: the same switchboard answer as the SIP socket's 302/480/503 (it may wait for the router's decision). A number
no clinic has is a 404 (the SIP socket's 404): a proxy rings its fallback answering service for both.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.contracts.sip import DIALLED_PATTERN

from ..domain.calls import Fallback, Ring
from ..switchboard import Question

router = APIRouter(tags=["routing"])


class RouteQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sip_call_id: str = Field(min_length=1, max_length=256, description="The SIP Call-ID of the caller's INVITE")
    dialled: str = Field(pattern=DIALLED_PATTERN, description="The Request-URI's user part")
    caller: str = Field(min_length=1, max_length=128, description="The From URI's user part (hashed, never kept)")
    refused_with: int | None = Field(
        None, ge=300, le=699, description="Asked again because what rang failed with this SIP status before its timeout"
    )


class RouteAnswer(BaseModel):
    action: Literal["ring", "hangup", "fallback"] = Field(
        description="ring: these URIs; hangup: the call is over (answered, abandoned, ended); fallback: nothing here"
        " can be rung, ring your fallback answering service (a human, never silence)"
    )
    uris: list[str] = Field(default_factory=list, description="Ring these at once; the first answer wins")
    timeout_ms: int | None = Field(None, description="How long they ring before the proxy asks again")
    reason: str | None = None


@router.post("/v1/sip/route", responses=error_responses(404, 422))
async def route(question: RouteQuestion, principal: CurrentPrincipal) -> RouteAnswer:
    """Where this call rings now, and for how long."""
    from .main import SWITCHBOARD as switchboard  # main imports this module

    clinic_id = switchboard.clinic_of(question.dialled)
    if clinic_id is None:
        raise HTTPException(
            404,
            "no clinic answers this number on SIP (phone.sip.numbers or its clinic_id): ring your fallback answering"
            " service",
        )
    principal.require_clinic(clinic_id)
    asked = Question(question.sip_call_id, question.dialled, question.caller, question.refused_with)
    answer = await switchboard.route(asked)
    if isinstance(answer, Ring):
        return RouteAnswer(action="ring", uris=list(answer.uris), timeout_ms=int(answer.timeout_seconds * 1000))
    if isinstance(answer, Fallback):
        return RouteAnswer(action="fallback", reason=answer.reason)
    return RouteAnswer(action="hangup", reason=getattr(answer, "reason", None))
