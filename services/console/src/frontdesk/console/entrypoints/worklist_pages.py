"""The worklists' pages and the staff's actions on them, through the owning service's API.

GET  /clinics/{c}/worklists (+ /live)              callbacks, recovery tasks, follow-up tasks, waitlist
                                                    offers, HL7 messages in quarantine (read model)
POST /clinics/{c}/callbacks/{id}/complete          -> followup POST /v1/callbacks/{id}/complete
GET  /clinics/{c}/recovery-tasks/{id}              the task as reviews serves it now (the patient's comment)
POST /clinics/{c}/recovery-tasks/{id}/close        -> reviews POST /v1/recovery-tasks/{id}/close
Actions carry the session's CSRF token and the staff member's own token (domain/staff_token.py); the
owner checks that token's clinic and scope again and records the staff member as the author. The read
model changes only when the owner's event arrives (callback.completed, review.recovery_closed).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from frontdesk.common.clinics import get_clinic

from .. import worklists
from ..adapters import owners, repository
from ..domain import session as sessions
from ..domain import staff_token
from ..domain.session import Session
from ..settings import current as settings
from .pages import (
    STAFF_TOKEN_COOKIE,
    _forbidden,
    _form,
    _page,
    _pool,
    _stream,
    _to_sign_in,
    current_session,
    now,
    templates,
)

router = APIRouter(tags=["console"], include_in_schema=False)
# Ids travel into the owner's URL path: only the characters ids are made of (422 otherwise).
ItemId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")]
NOTICES = {
    "callback": "Callback marked done in followup. It leaves the list when followup's event arrives.",
    "recovery": "Recovery task closed in reviews. It leaves the list when reviews' event arrives.",
}


def _token(request: Request, session: Session) -> str | None:
    return staff_token.open_sealed(request.cookies.get(STAFF_TOKEN_COOKIE), settings().session_keys, session.csrf)


def _unknown_clinic(request: Request, session: Session, clinic_id: str) -> HTMLResponse:
    message = f"The console has no configuration for clinic {clinic_id} (yet)."
    return _page(request, "error.html", 404, session=session, title="Unknown clinic", message=message)


def _refused(request: Request, session: Session, status: int, title: str, message: str) -> HTMLResponse:
    return _page(request, "error.html", status, session=session, title=title, message=message)


@router.get("/clinics/{clinic_id}/worklists", response_class=HTMLResponse)
async def worklists_page(request: Request, clinic_id: str, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    if not session.can_see(clinic_id):
        return _forbidden(request, session, clinic_id)
    async with _pool(request).acquire() as conn:
        screen = await worklists.worklists_screen(conn, clinic_id, now())
    if screen is None:
        return _unknown_clinic(request, session, clinic_id)
    notice = NOTICES.get(done or "")
    return _page(request, "worklists.html", session=session, screen=screen, notice=notice)


@router.get("/clinics/{clinic_id}/worklists/live")
async def worklists_live(request: Request, clinic_id: str) -> Response:
    session = current_session(request)
    if session is None:
        raise HTTPException(401, "no valid session: sign in again")
    if not session.can_see(clinic_id):
        raise HTTPException(403, f"this session is not scoped to clinic {clinic_id}")

    async def render() -> str | None:
        async with _pool(request).acquire() as conn:
            screen = await worklists.worklists_screen(conn, clinic_id, now())
        template = templates.get_template("worklists_live.html")
        return None if screen is None else template.render(screen=screen, session=session)

    async def version() -> int:
        async with _pool(request).acquire() as conn:
            return (await repository.activity(conn, clinic_id)).version

    return _stream(request, session, render, version)


async def _acting(request: Request, clinic_id: str) -> tuple[Session, str, dict[str, str]] | Response:
    """The session, the staff's token and the form of an action; or the page that refuses it."""
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    form = await _form(request)
    if not sessions.csrf_matches(session.csrf, form.get("csrf")):
        return _refused(request, session, 403, "Form expired", "This form was not the one we served. Reload the page.")
    if not session.can_see(clinic_id):
        return _forbidden(request, session, clinic_id)
    token = _token(request, session)
    if token is None:
        return _refused(request, session, 401, "Sign in again", "Your sign-in does not carry a token to act with.")
    return session, token, form


async def _owner_says(
    request: Request, session: Session, owner: owners.Owner, path: str, token: str, **kwargs: Any
) -> owners.Answer | Response:
    try:
        answer = await owners.call(owner, "POST", path, token, **kwargs)
    except owners.OwnerUnavailable as exc:
        return _refused(request, session, 503, "Not done", f"{exc}. Nothing was changed; try again shortly.")
    if not answer.ok:
        return _refused(request, session, answer.status, "Not done", f"{owner} refused: {answer.reason}")
    return answer


@router.post("/clinics/{clinic_id}/callbacks/{callback_id}/complete")
async def complete_callback(request: Request, clinic_id: str, callback_id: ItemId) -> Response:
    acting = await _acting(request, clinic_id)
    if isinstance(acting, Response):
        return acting
    session, token, _ = acting
    answer = await _owner_says(request, session, "followup", f"/v1/callbacks/{callback_id}/complete", token)
    if isinstance(answer, Response):
        return answer
    return RedirectResponse(f"/clinics/{clinic_id}/worklists?done=callback", status_code=303)


@router.get("/clinics/{clinic_id}/recovery-tasks/{task_id}", response_class=HTMLResponse)
async def recovery_task_page(request: Request, clinic_id: str, task_id: ItemId) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    if not session.can_see(clinic_id):
        return _forbidden(request, session, clinic_id)
    token = _token(request, session)
    if token is None:
        return _refused(request, session, 401, "Sign in again", "Your sign-in does not carry a token to read with.")
    try:
        answer = await owners.call("reviews", "GET", f"/v1/recovery-tasks/{task_id}", token)
    except owners.OwnerUnavailable as exc:
        return _refused(request, session, 503, "Reviews unavailable", f"{exc}. Try again shortly.")
    if not answer.ok or not isinstance(answer.body, dict) or answer.body.get("clinic_id") != clinic_id:
        status = answer.status if not answer.ok else 404
        return _refused(request, session, status, "No such task", f"reviews says: {answer.reason}")
    async with _pool(request).acquire() as conn:
        clinic = await get_clinic(conn, clinic_id)
    tz = clinic.timezone if clinic else "UTC"
    return _page(request, "recovery_task.html", session=session, clinic_id=clinic_id, task=answer.body, tz=tz)


@router.post("/clinics/{clinic_id}/recovery-tasks/{task_id}/close")
async def close_recovery_task(request: Request, clinic_id: str, task_id: ItemId) -> Response:
    acting = await _acting(request, clinic_id)
    if isinstance(acting, Response):
        return acting
    session, token, form = acting
    note = form.get("note", "").strip()
    if not note:
        return _refused(request, session, 422, "Not closed", "A recovery task is closed with a note: write one.")
    path = f"/v1/recovery-tasks/{task_id}/close"
    answer = await _owner_says(request, session, "reviews", path, token, json={"note": note[:4000]})
    if isinstance(answer, Response):
        return answer
    return RedirectResponse(f"/clinics/{clinic_id}/worklists?done=recovery", status_code=303)
