"""The console's pages: sign-in, Now per clinic, Network, their live streams and static files.

Every page but /sign-in needs a session cookie (domain/session.py) made at sign-in: through the
organisation's OpenID Connect provider (entrypoints/oidc.py), or on the local stack from a Frontdesk
token verified with the same keys as the APIs. No session, an altered or expired one: back to
/sign-in (a live stream answers 401). A clinic the session may not see: 403. Forms carry a CSRF
token. Pages render the state at load without JavaScript; /static/live.js applies what the live
stream (server-sent events) pushes: the page's live region, re-rendered when the clinic changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import asyncpg
import jwt
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from frontdesk.common.auth import READ, Principal, TokenVerifier
from frontdesk.common.service import runtime_of

from .. import screens
from ..adapters import repository
from ..domain import session as sessions
from ..domain import staff_token
from ..domain.board import SERVICE_LEVEL_TARGET
from ..domain.session import Session
from ..settings import current as settings
from .format import FILTERS

PACKAGE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=PACKAGE / "templates")
templates.env.filters.update(FILTERS)
STATIC = {"console.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}
SESSION_COOKIE, SIGN_IN_CSRF_COOKIE = "console_session", "console_sign_in"
STAFF_TOKEN_COOKIE = "console_token"  # noqa: S105 - a cookie name; it carries the staff token, sealed
LIVE_POLL_SECONDS = 0.5
LIVE_REFRESH_SECONDS = 10.0  # re-render anyway: waits and staleness grow without events
router = APIRouter(tags=["console"], include_in_schema=False)


def now() -> datetime:
    return datetime.now(UTC)


def _pool(request: Request) -> asyncpg.Pool:
    pool = runtime_of(request).pool
    assert pool is not None, "the console serves pages only once started"
    return pool


def current_session(request: Request) -> Session | None:
    """The request's valid session, if any; its subject then signs the audit trail's row."""
    cookie = request.cookies.get(SESSION_COOKIE)
    session = None if not cookie else sessions.decode_session(cookie, settings().session_keys, now())
    if session is not None:
        request.state.principal = Principal(session.subject, session.clinics, frozenset({READ}))
    return session


def _to_sign_in() -> RedirectResponse:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(STAFF_TOKEN_COOKIE, path="/")
    return response


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def _forbidden(request: Request, session: Session, clinic_id: str) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        403,
        session=session,
        title="Not your clinic",
        message=f"Your sign-in is not scoped to clinic {clinic_id}.",
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    if session.clinics is not None and len(session.clinics) == 1:
        return RedirectResponse(f"/clinics/{next(iter(session.clinics))}/now", status_code=303)
    return RedirectResponse("/network", status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    csrf = sessions.new_session("", frozenset(), now(), 0).csrf
    response = _sign_in_form(request, 200, csrf, None)
    if settings().token_sign_in:
        _set_cookie(response, SIGN_IN_CSRF_COOKIE, csrf, max_age=3600)
    return response


def _sign_in_form(request: Request, status: int, csrf: str, error: str | None) -> HTMLResponse:
    """The provider's button when one is configured; the token form on the local stack only."""
    oidc = settings().oidc
    provider = None if oidc is None else oidc.provider_name
    return _page(
        request,
        "sign_in.html",
        status,
        csrf=csrf,
        error=error,
        session=None,
        provider=provider,
        token_form=settings().token_sign_in,
    )


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:
        raise HTTPException(400, "the form has too many fields") from None
    return {k: v[0] for k, v in fields.items()}


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    if not settings().token_sign_in:
        return _page(
            request,
            "error.html",
            403,
            session=None,
            title="Sign in with your organisation",
            message="Signing in with a Frontdesk token is for the local stack only.",
        )
    form = await _form(request)
    csrf = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not sessions.csrf_matches(csrf, form.get("csrf")):
        return _page(
            request,
            "error.html",
            403,
            session=None,
            title="Form expired",
            message="This form was not the one we served (or it is too old). Reload the sign-in page.",
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    token = form.get("token", "").strip()
    try:
        principal = verifier.verify(token, "GET")
    except HTTPException as refused:
        return _sign_in_form(request, 401, csrf, str(refused.detail))
    token_expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
    session = sessions.new_session(principal.subject, principal.clinics, now(), token_expires)
    signed_in = RedirectResponse("/", status_code=303)
    lifetime = max(1, session.expires_at - int(now().timestamp()))
    key = settings().session_keys[0]
    _set_cookie(signed_in, SESSION_COOKIE, sessions.encode_session(session, key), max_age=lifetime)
    _set_cookie(signed_in, STAFF_TOKEN_COOKIE, staff_token.seal(token, key, session.csrf), max_age=lifetime)
    signed_in.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = current_session(request)
    form = await _form(request)
    if session is not None and not sessions.csrf_matches(session.csrf, form.get("csrf")):
        raise HTTPException(403, "the form's CSRF token does not match the session")
    return _to_sign_in()


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=settings().secure_cookies
    )


@router.get("/clinics/{clinic_id}/now", response_class=HTMLResponse)
async def now_page(request: Request, clinic_id: str) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    if not session.can_see(clinic_id):
        return _forbidden(request, session, clinic_id)
    async with _pool(request).acquire() as conn:
        screen = await screens.now_screen(conn, clinic_id, now())
    if screen is None:
        return _page(
            request,
            "error.html",
            404,
            session=session,
            title="Unknown clinic",
            message=f"The console has no configuration for clinic {clinic_id} (yet).",
        )
    return _page(request, "now.html", session=session, screen=screen)


@router.get("/clinics/{clinic_id}/now/live")
async def now_live(request: Request, clinic_id: str) -> Response:
    session = current_session(request)
    if session is None:
        raise HTTPException(401, "no valid session: sign in again")
    if not session.can_see(clinic_id):
        raise HTTPException(403, f"this session is not scoped to clinic {clinic_id}")

    async def render() -> str | None:
        async with _pool(request).acquire() as conn:
            screen = await screens.now_screen(conn, clinic_id, now())
        return None if screen is None else templates.get_template("now_live.html").render(screen=screen)

    async def version() -> int:
        async with _pool(request).acquire() as conn:
            return (await repository.activity(conn, clinic_id)).version

    return _stream(request, session, render, version)


SortOrder = Annotated[str, Query(pattern="^(asc|desc)$")]


async def _network(request: Request, session: Session, sort: screens.SortKey, order: str) -> dict[str, Any]:
    visible = None if session.clinics is None else sorted(session.clinics)
    async with _pool(request).acquire() as conn:
        rows = await screens.network_screen(conn, visible, now(), sort, order == "desc")
        last = await repository.last_event_at(conn, visible)
    return {
        "rows": rows,
        "sort": sort,
        "order": order,
        "last_event_at": last,
        "now": now(),
        "target": SERVICE_LEVEL_TARGET,
    }


@router.get("/network", response_class=HTMLResponse)
async def network_page(
    request: Request, sort: Annotated[screens.SortKey, Query()] = "service_level", order: SortOrder = "asc"
) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    return _page(request, "network.html", session=session, **await _network(request, session, sort, order))


@router.get("/network/live")
async def network_live(
    request: Request, sort: Annotated[screens.SortKey, Query()] = "service_level", order: SortOrder = "asc"
) -> Response:
    session = current_session(request)
    if session is None:
        raise HTTPException(401, "no valid session: sign in again")
    visible = None if session.clinics is None else sorted(session.clinics)

    async def render() -> str:
        context = await _network(request, session, sort, order)
        return templates.get_template("network_live.html").render(**context)

    async def version() -> int:
        async with _pool(request).acquire() as conn:
            return sum((await repository.versions(conn, visible)).values())

    return _stream(request, session, render, version)


def _stream(request: Request, session: Session, render: Any, version: Any) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        seen, rendered_at = -1, 0.0
        loop = asyncio.get_running_loop()
        while not await request.is_disconnected():
            if now().timestamp() >= session.expires_at:
                yield "event: expired\ndata: sign in again\n\n"
                return
            current = await version()
            if current != seen or loop.time() - rendered_at >= LIVE_REFRESH_SECONDS:
                html = await render()
                seen, rendered_at = current, loop.time()
                if html is not None:
                    yield "event: update\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            await asyncio.sleep(LIVE_POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # proxies must not buffer the stream
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        return PlainTextResponse("not found", status_code=404)
    body = (PACKAGE / "static" / name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=300"})
