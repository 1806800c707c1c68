"""followup's HTTP API: contact registration and consent, plans and messages, the callback worklist,
staff tasks (bearer token, per clinic), and the public routes that carry their own proof: the signed
webhooks for inbound replies and delivery receipts, and the short links in SMS.

Authorization: a clinic in the path needs a token for it (403); a callback is found only by a token of
its clinic (404 otherwise); a patient is visible to the clinics followup links them to (404 otherwise),
and lists show only the token's clinics' plans and messages. Contact details and consents are changed
only by the clinics that registered the patient, or a network-wide token (docs/patients.md). Responses
never echo phone numbers or email addresses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal, Principal
from frontdesk.common.contracts import CallbackCompleted, Id
from frontdesk.common.contracts.followup import StateCode
from frontdesk.common.contracts.messaging import E164
from frontdesk.common.db import Connection
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.ratelimit import by_client, by_path_param, rate_limited
from frontdesk.common.service import Runtime, ServiceRuntime
from frontdesk.common.uow import UnitOfWork

from .. import booking_codes, booking_links, contacts, sms_replies
from ..adapters import repository
from ..adapters.policy_inputs import Contact
from ..domain import consent
from ..domain.consent import ConsentSource, Purpose
from ..handlers import followup_id
from ..settings import current as settings

router = APIRouter(prefix="/v1", tags=["followups"], responses=error_responses(401, 403, 404, 422))
# Public: each request carries its own proof (an HMAC signature, or an unguessable short-link code).
webhooks_router = APIRouter(prefix="/v1", tags=["provider webhooks"], responses=error_responses(401, 404, 422))
links_router = APIRouter(tags=["short links"])
BodyModel = TypeVar("BodyModel", bound=BaseModel)
# Changing contact details or consent can make messages go out: limited per token subject.
contact_changes = rate_limited("contact-changes", per_minute=60)
PatientId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, pattern=E164, description="E.164, e.g. +15555550123")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    timezone: str | None = Field(None, description="The patient's IANA zone, if not the clinic's.")
    state: StateCode | None = None
    preferred_channel: Literal["sms", "email"] = "sms"
    consents: dict[Purpose, bool] = Field(
        default_factory=lambda: {"treatment": True},  # type: ignore[arg-type]
        description="What the patient agreed to. Giving a number for care = treatment messages.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America" with tzdata installed
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opted_in: bool


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Id | None = Field(None, description="Deprecated: who completes it is the token's subject (403 if another)")


class InboundSms(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_: str = Field(alias="from", min_length=3, max_length=32)
    text: str = Field(max_length=1600)
    received_at: datetime | None = None


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_message_id: str = Field(min_length=1, max_length=128)
    status: Literal["delivered", "failed", "undelivered"]


def _pool(runtime: ServiceRuntime) -> Any:
    assert runtime.pool is not None
    return runtime.pool


async def _consent_view(conn: Any, patient_id: str) -> dict[str, str]:
    ledger = await repository.ledger(conn, patient_id)
    return {p: consent.state(ledger, p) for p in consent.PURPOSES}


async def _require_patient(conn: Connection, principal: Principal, patient_id: str) -> None:
    """Reading a patient: a token of a clinic linked to them, or a network-wide one (404 otherwise)."""
    if principal.clinics is not None:
        principal.require_any(await repository.clinics_of_patient(conn, patient_id), "patient")


async def _claim_patient(conn: Connection, principal: Principal, patient_id: str) -> None:
    """Before changing contact details or consents (under the patient's lock): only the clinics that
    registered the patient, or a network-wide token; an appointment or a message at a clinic is no
    such right (docs/patients.md). A patient new to followup is registered by the token's clinics."""
    registered = await repository.registering_clinics(conn, patient_id)
    linked = await repository.clinics_of_patient(conn, patient_id)
    on_file = await repository.patient_on_file(conn, patient_id)
    if principal.claim_patient(registered, linked, on_file):
        assert principal.clinics is not None
        await repository.link_patient(conn, patient_id, principal.clinics)


@router.put("/patients/{patient_id}/contact", dependencies=[contact_changes], responses=error_responses(429))
async def register_contact(
    patient_id: PatientId, body: ContactIn, principal: CurrentPrincipal, runtime: Runtime
) -> dict[str, Any]:
    """Register (or replace) a patient's contact details and the consents they gave. A patient new to
    followup is registered by the token's clinics; only they (or a network-wide token) may change them
    later: 403 for a clinic that only has appointments or messages of the patient, 404 for any other."""
    if body.phone is None and body.email is None:
        raise HTTPException(422, "give a phone number or an email address")
    details = Contact(body.phone, body.email, body.timezone, body.state, body.preferred_channel)
    async with runtime.unit_of_work() as uow:
        await repository.lock_patient(uow.conn, patient_id)
        await _claim_patient(uow.conn, principal, patient_id)
        existing = await repository.get_contact(uow.conn, patient_id, lock=True)
        source: ConsentSource = "staff" if existing else "registration"
        await contacts.register(uow, patient_id, details, body.consents, source, datetime.now(UTC))
        return {"patient_id": patient_id, "consent": await _consent_view(uow.conn, patient_id)}


@router.get("/patients/{patient_id}/consent")
async def get_consent(patient_id: PatientId, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, Any]:
    async with _pool(runtime).acquire() as conn:
        await _require_patient(conn, principal, patient_id)
        contact = await repository.get_contact(conn, patient_id)
        return {
            "patient_id": patient_id,
            "has_phone": bool(contact and contact.phone),
            "has_email": bool(contact and contact.email),
            "consent": await _consent_view(conn, patient_id),
        }


@router.put("/patients/{patient_id}/consent/{purpose}", dependencies=[contact_changes], responses=error_responses(429))
async def set_consent(
    patient_id: PatientId,
    purpose: Purpose,
    body: ConsentIn,
    principal: CurrentPrincipal,
    runtime: Runtime,
) -> dict[str, Any]:
    """Staff record a consent or an opt-out the patient gave in person or in writing."""
    async with runtime.unit_of_work() as uow:
        await repository.lock_patient(uow.conn, patient_id)
        await _claim_patient(uow.conn, principal, patient_id)
        await contacts.record_consent(uow, patient_id, {purpose: body.opted_in}, "staff", datetime.now(UTC))
        return {"patient_id": patient_id, "consent": await _consent_view(uow.conn, patient_id)}


def _by(*columns: str) -> Callable[[dict[str, Any]], list[Any]]:
    """A row's sort key (the columns a list is ordered by, the last one unique): its next cursor."""
    return lambda row: [row[c] for c in columns]


@router.get("/patients/{patient_id}/followups")
async def patient_followups(
    patient_id: PatientId,
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
) -> list[dict[str, Any]]:
    """The patient's plans at the token's clinics, by due time (a page: see `X-Next-Cursor`)."""
    async with _pool(runtime).acquire() as conn:
        await _require_patient(conn, principal, patient_id)
        after = page.after(datetime.fromisoformat, str)
        rows = await repository.for_patient(conn, patient_id, principal.visible_clinics(), after, page.fetch)
    return array_page(request, response, page, rows, _by("due_at", "followup_id"))


@router.get("/patients/{patient_id}/messages")
async def patient_messages(
    patient_id: PatientId,
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
) -> list[dict[str, Any]]:
    """The patient's messages from the token's clinics, oldest first (a page: see `X-Next-Cursor`)."""
    async with _pool(runtime).acquire() as conn:
        await _require_patient(conn, principal, patient_id)
        after = page.after(datetime.fromisoformat, str)
        rows = await repository.messages_for_patient(conn, patient_id, principal.visible_clinics(), after, page.fetch)
    return array_page(request, response, page, rows, _by("created_at", "message_request_id"))


@router.get("/clinics/{clinic_id}/callbacks")
async def clinic_callbacks(
    clinic_id: PatientId,
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
    status: Literal["open", "done", "all"] = Query("open"),
) -> list[dict[str, Any]]:
    """The callback worklist: who to call back, from when, and when it escalates (by due time; a
    page: see `X-Next-Cursor`)."""
    principal.require_clinic(clinic_id)
    after = page.after(datetime.fromisoformat, str)
    async with _pool(runtime).acquire() as conn:
        rows = await repository.callbacks_for_clinic(conn, clinic_id, status, after, page.fetch)
    return array_page(request, response, page, rows, _by("due_at", "callback_id"))


@router.post("/callbacks/{callback_id}/complete")
async def complete_callback(
    callback_id: PatientId,
    principal: CurrentPrincipal,
    runtime: Runtime,
    body: Annotated[CompleteIn | None, Body()] = None,
) -> dict[str, Any]:
    """Mark a callback done, by the token's subject (recorded as completed_by); emits
    callback.completed (the console's worklists drop it). Completing it again changes nothing."""
    by = principal.author(body.by if body else None)
    async with _pool(runtime).acquire() as conn:
        principal.require_owner(await repository.clinic_of_callback(conn, callback_id), "callback")
    async with runtime.unit_of_work() as uow:
        callback = await repository.lock_callback(uow.conn, callback_id)
        if callback is None:
            raise HTTPException(404, f"no callback {callback_id}")
        if callback["status"] == "open":
            completed_at = datetime.now(UTC)
            await repository.complete_callback(uow.conn, callback_id, by, completed_at)
            await uow.cancel_timer(f"callback-escalate:{callback_id}")
            await repository.set_followup_status(uow.conn, followup_id("callback", callback_id), "done")
            await uow.emit(
                CallbackCompleted(callback_id=callback_id, clinic_id=callback["clinic_id"], completed_at=completed_at)
            )
        return {"callback_id": callback_id, "status": "done"}


@router.get("/clinics/{clinic_id}/tasks")
async def clinic_tasks(
    clinic_id: PatientId,
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
) -> list[dict[str, Any]]:
    """Open staff tasks (replies that need a person), with the reply text: staff-only (oldest first;
    a page: see `X-Next-Cursor`)."""
    principal.require_clinic(clinic_id)
    after = page.after(datetime.fromisoformat, str)
    async with _pool(runtime).acquire() as conn:
        rows = await repository.tasks_for_clinic(conn, clinic_id, after, page.fetch)
    return array_page(request, response, page, rows, _by("created_at", "task_id"))


@dataclass(frozen=True)
class SignedWebhook:
    """A provider's webhook whose signature checked out (HMAC-SHA256 of "<timestamp>.<body>")."""

    body: bytes
    signature: str
    runtime: ServiceRuntime

    def parse(self, model: type[BodyModel]) -> BodyModel:
        try:
            return model.model_validate(json.loads(self.body))
        except (ValueError, TypeError) as exc:
            raise HTTPException(422, f"invalid body: {str(exc)[:300]}") from None

    async def once(self, apply: Callable[[UnitOfWork], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Apply the webhook in a unit of work unless this very request (its signature) was seen."""
        async with self.runtime.unit_of_work() as uow:
            if await repository.seen_webhook(uow.conn, self.signature):
                return {"duplicate": True}
            return await apply(uow)


async def signed_webhook(
    request: Request,
    runtime: Runtime,
    x_frontdesk_timestamp: str | None = Header(None),
    x_frontdesk_signature: str | None = Header(None),
) -> SignedWebhook:
    body = await request.body()
    problem = sms_replies.verify(
        settings().inbound_secrets(), x_frontdesk_timestamp, x_frontdesk_signature, body, time.time()
    )
    if problem is not None:
        raise HTTPException(401, problem)
    assert x_frontdesk_signature is not None
    return SignedWebhook(body, x_frontdesk_signature, runtime)


Webhook = Annotated[SignedWebhook, Depends(signed_webhook)]


# No rate limit on the provider's signed webhooks: a 429 could lose a patient's STOP.
@webhooks_router.post("/webhooks/sms")
async def inbound_sms(webhook: Webhook) -> dict[str, Any]:
    """An inbound SMS from the provider (signed: HMAC-SHA256 of "<timestamp>.<body>")."""
    sms = webhook.parse(InboundSms)

    async def apply(uow: UnitOfWork) -> dict[str, Any]:
        return await sms_replies.apply_reply(uow, sms.from_, sms.text, sms.received_at or datetime.now(UTC))

    return await webhook.once(apply)


@webhooks_router.post("/webhooks/receipts")
async def delivery_receipt(webhook: Webhook) -> dict[str, Any]:
    """A delivery receipt from the provider (signed like the SMS webhook)."""
    receipt = webhook.parse(Receipt)

    async def apply(uow: UnitOfWork) -> dict[str, Any]:
        now = datetime.now(UTC)
        if await repository.record_receipt(uow.conn, receipt.provider_message_id, receipt.status, now):
            return {"recorded": True}
        if await booking_links.receipt(uow.conn, receipt.provider_message_id, receipt.status):
            return {"recorded": True}
        if not await booking_codes.receipt(uow, receipt.provider_message_id, receipt.status, now):
            raise HTTPException(404, "unknown provider_message_id")
        return {"recorded": True}

    return await webhook.once(apply)


@links_router.get(
    "/l/{code}",
    include_in_schema=False,
    # Per link (behind an ingress every patient has one address), and a wider budget per client address.
    dependencies=[
        rate_limited("short-links", per_minute=120, key=by_path_param("code")),
        rate_limited("short-link-clients", per_minute=600, key=by_client),
    ],
)
async def short_link(code: Annotated[str, Path(pattern=r"^[0-9A-Za-z]{9}$")], runtime: Runtime) -> RedirectResponse:
    """Where a short link in an SMS leads."""
    async with _pool(runtime).acquire() as conn:
        url = await repository.resolve_short_link(conn, code)
    if url is None:
        raise HTTPException(404, "unknown link")
    return RedirectResponse(url, status_code=302)
