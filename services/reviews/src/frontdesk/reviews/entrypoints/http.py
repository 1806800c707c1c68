"""reviews' HTTP API: the patient's feedback page (public: a signed, expiring, single-use link, rate
limited per link and per client address), and the staff endpoints (bearer token, per clinic) for service
recovery, public reply drafts and reputation.

Authorization: a clinic named by the request needs a token for it (403); a visit's requests and a
recovery task are found only by a token of their clinic (404 otherwise, as if unknown)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal, Principal
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig, Id
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.ratelimit import by_client, by_path_param, rate_limited
from frontdesk.common.service import Runtime, ServiceRuntime

from .. import recovery, reputation
from ..adapters import repository
from ..domain import feedback, review_links
from ..domain import reputation as weeks
from ..settings import current as settings
from . import pages

router = APIRouter(prefix="/v1", tags=["reviews"], responses=error_responses(403, 404, 409, 410, 422))
# Public: the patient has no token, the signed link is the proof. Limited per link (behind an ingress
# every patient has the same address), and more widely per client address, which bounds page floods
# and guessing (the link's HMAC makes that hopeless anyway).
feedback_router = APIRouter(
    prefix="/v1",
    tags=["patient"],
    dependencies=[
        rate_limited("feedback-pages", per_minute=120, key=by_path_param("token")),
        rate_limited("feedback-clients", per_minute=600, key=by_client),
    ],
    responses=error_responses(429),
)
# The token is in the URL: keep it out of caches, referrers and search engines; no scripts at all.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


# The patient's pages answer errors with a page too (unknown or expired link, used link, bad score).
_PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"text/html": {"schema": {"type": "string"}}}}
    for code, text in ((404, "Unknown link"), (410, "Expired or already used link"), (422, "Invalid answer"))
}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_PAGE_HEADERS)


async def _clinic(runtime: ServiceRuntime, clinic_id: str) -> ClinicConfig | None:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await get_clinic(conn, clinic_id)


# --- the patient's page -------------------------------------------------------------------------


@feedback_router.get("/feedback/{token}", response_class=HTMLResponse, responses=_PAGE_ERRORS)
async def feedback_form(token: str, runtime: Runtime) -> HTMLResponse:
    async with runtime.unit_of_work() as uow:
        try:
            link = await recovery.check_link(uow, token, settings().keys())
        except recovery.CommandError as exc:
            return _html(pages.problem_page(exc.message), exc.status)
        clinic = await get_clinic(uow.conn, link.clinic_id)
    practice = clinic.name if clinic else "Your practice"
    links = review_links(clinic.reviews) if clinic else {}
    if link.used_at is not None:
        return _html(pages.thanks_page(practice, links, already=True))
    return _html(pages.form_page(practice, link.rating_scale, links, f"/v1/feedback/{token}"))


async def _answer(request: Request) -> tuple[int | None, str | None, str | None]:
    """(score, comment, problem) from a form post or a JSON body."""
    raw = await request.body()
    if len(raw) > 16_384:
        return None, None, "the answer is too large"
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return None, None, "the body is not valid JSON"
        if not isinstance(data, dict):
            return None, None, "the body must be a JSON object"
        score_value, comment = data.get("score"), data.get("comment")
    else:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        score_value = form["score"][0] if form.get("score") else None
        comment = form["comment"][0] if form.get("comment") else None
    if score_value is None or score_value == "":
        return None, None, "please choose a score"
    try:
        score = int(score_value)
    except (TypeError, ValueError):
        return None, None, "the score must be a whole number"
    if comment is not None and not isinstance(comment, str):
        return None, None, "the comment must be text"
    return score, comment, None


@feedback_router.post("/feedback/{token}", response_class=HTMLResponse, responses=_PAGE_ERRORS)
async def feedback_submit(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    score, comment, problem = await _answer(request)
    action = f"/v1/feedback/{token}"
    async with runtime.unit_of_work() as uow:
        try:
            link = await recovery.check_link(uow, token, settings().keys())
        except recovery.CommandError as exc:
            return _html(pages.problem_page(exc.message), exc.status)
        clinic = await get_clinic(uow.conn, link.clinic_id)
    practice = clinic.name if clinic else "Your practice"
    links = review_links(clinic.reviews) if clinic else {}
    scale = link.rating_scale
    if link.used_at is not None:
        return _html(pages.thanks_page(practice, links, already=True), 410)
    if problem is not None or score is None:
        return _html(pages.form_page(practice, scale, links, action, problem or "please choose a score"), 422)
    try:
        # Its own transaction: the link is locked, checked again and used once (a race loses with 410).
        async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
            await recovery.submit_feedback(uow, token, settings().keys(), score, comment)
    except recovery.CommandError as exc:
        if exc.status == 422:
            return _html(pages.form_page(practice, scale, links, action, exc.message), 422)
        if exc.status == 410 and "already" in exc.message:
            return _html(pages.thanks_page(practice, links, already=True), 410)
        return _html(pages.problem_page(exc.message), exc.status)
    # The same public links after every answer, whatever the score: no review gating.
    return _html(pages.thanks_page(practice, links))


# --- staff: review requests and service recovery ------------------------------------------------


async def _require_task(runtime: ServiceRuntime, principal: Principal, task_id: str) -> None:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        principal.require_owner(await repository.clinic_of_task(conn, task_id), "recovery task")


@router.get("/visits/{visit_id}/review-requests")
async def visit_review_requests(visit_id: str, principal: CurrentPrincipal, runtime: Runtime) -> list[dict[str, Any]]:
    """The visit's review request (404 for a visit reviews has no request for)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        principal.require_owner(await repository.clinic_of_visit(conn, visit_id), "visit")
        return [asdict(request) for request in await repository.for_visit(conn, visit_id)]


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: Id | None = Field(None, description="Deprecated: the author is the token's subject (403 if another)")
    note: str = Field(min_length=1, max_length=4000)


@router.get("/recovery-tasks")
async def recovery_tasks(
    clinic_id: Annotated[str, Query(min_length=1)],
    principal: CurrentPrincipal,
    page: Page,
    request: Request,
    response: Response,
    runtime: Runtime,
    status: Literal["open", "closed"] | None = None,
) -> list[dict[str, Any]]:
    """The clinic's recovery tasks by deadline (a page: see `X-Next-Cursor`)."""
    principal.require_clinic(clinic_id)
    after = page.after(datetime.fromisoformat, str)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        rows = await repository.list_tasks(conn, clinic_id, status, after, page.fetch)
    shown = array_page(request, response, page, rows, lambda task: [task.due_at, task.recovery_task_id])
    return [asdict(task) for task in shown]


@router.get("/recovery-tasks/{task_id}")
async def recovery_task(task_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        task = await repository.get_task(conn, task_id)
        principal.require_owner(task.clinic_id if task else None, "recovery task")
        assert task is not None
        comment = await repository.comment_for(conn, task.review_request_id)
        notes = await repository.notes(conn, task_id)
    return {**asdict(task), "comment": comment, "notes": [asdict(note) for note in notes]}


async def _note(
    runtime: ServiceRuntime, principal: Principal, task_id: str, body: NoteBody, close: bool
) -> dict[str, Any]:
    """A note by the token's subject (a body naming anyone else is refused)."""
    author = principal.author(body.author)
    try:
        async with runtime.unit_of_work() as uow:
            return asdict(await recovery.add_note(uow, task_id, author, body.note, close=close))
    except recovery.CommandError as exc:
        raise HTTPException(exc.status, exc.message) from None


@router.post("/recovery-tasks/{task_id}/notes")
async def add_recovery_note(
    task_id: str, body: NoteBody, principal: CurrentPrincipal, runtime: Runtime
) -> dict[str, Any]:
    """A staff note: the task counts as touched (no re-escalation at the next deadline)."""
    await _require_task(runtime, principal, task_id)
    return await _note(runtime, principal, task_id, body, close=False)


@router.post("/recovery-tasks/{task_id}/close")
async def close_recovery_task(
    task_id: str, body: NoteBody, principal: CurrentPrincipal, runtime: Runtime
) -> dict[str, Any]:
    """Close the task with the staff's closing notes (emits review.recovery_closed)."""
    await _require_task(runtime, principal, task_id)
    return await _note(runtime, principal, task_id, body, close=True)


class ReplyDraftBody(BaseModel):
    """Only what a PHI-free reply may depend on: the clinic and the public review's star rating.
    The review's text is deliberately not accepted (unknown fields are refused)."""

    model_config = ConfigDict(extra="forbid")

    clinic_id: Id
    stars: int = Field(ge=1, le=5)


@router.post("/public-reply-drafts")
async def public_reply_draft(body: ReplyDraftBody, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, str]:
    principal.require_clinic(body.clinic_id)
    clinic = await _clinic(runtime, body.clinic_id)
    if clinic is None:
        raise HTTPException(404, f"unknown clinic {body.clinic_id}")
    tone = feedback.sentiment("stars", body.stars)
    draft = feedback.draft_public_reply(tone, clinic.name)
    return {"tone": tone, "draft": draft}


# --- reputation ---------------------------------------------------------------------------------


def _week(clinic: ClinicConfig, week: str | None) -> str:
    if week is None:
        return weeks.week_of(datetime.now(UTC), clinic.zone)
    try:
        weeks.parse_week(week)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return week


@router.get(
    "/reputation/{clinic_id}",
    dependencies=[rate_limited("reputation", per_minute=120)],
    responses=error_responses(429),
)
async def clinic_reputation(
    clinic_id: str, principal: CurrentPrincipal, runtime: Runtime, week: str | None = None
) -> dict[str, Any]:
    """Requests sent, response rate, average rating, NPS, escalations and the share closed within the
    deadline, for the clinic and each provider, for one ISO week of the clinic's calendar (default: this one)."""
    principal.require_clinic(clinic_id)
    clinic = await _clinic(runtime, clinic_id)
    if clinic is None:
        raise HTTPException(404, f"unknown clinic {clinic_id}")
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        summary = await reputation.compute(conn, clinic, _week(clinic, week), datetime.now(UTC))
    return summary.model_dump(mode="json")


@router.post(
    "/reputation/{clinic_id}/summaries",
    status_code=202,
    dependencies=[rate_limited("reputation-publish", per_minute=10)],
    responses=error_responses(429),
)
async def publish_reputation(
    clinic_id: str, principal: CurrentPrincipal, runtime: Runtime, week: str | None = None
) -> dict[str, Any]:
    """Publish a reputation.summary for the week now (the weekly job does it for each completed week)."""
    principal.require_clinic(clinic_id)
    clinic = await _clinic(runtime, clinic_id)
    if clinic is None:
        raise HTTPException(404, f"unknown clinic {clinic_id}")
    async with runtime.unit_of_work() as uow:
        summary = await reputation.publish(uow, clinic_id, _week(clinic, week))
    assert summary is not None
    return summary.model_dump(mode="json")
