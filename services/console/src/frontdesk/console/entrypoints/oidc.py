"""Sign-in through the organisation's OpenID Connect provider (domain/oidc.py has the flow's rules).

GET /sign-in/oidc starts an attempt (state, nonce, PKCE verifier in a signed cookie, SameSite=Lax so
that it comes back with the provider's redirect) and sends the browser to the provider. The provider
sends it back to /sign-in/oidc/callback: an attempt we did not start, or another state, is refused
(403); a refused code or an invalid ID token too (401); then the session cookie is made exactly as the
token sign-in makes it. The page that sets it moves on to / by itself: a SameSite=Strict cookie set at
the end of a redirect from another site is not sent on a redirect that follows it.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from frontdesk.common.auth import READ, Principal

from ..adapters.oidc_provider import Provider, ProviderUnavailable
from ..domain import oidc
from ..domain import session as sessions
from ..domain.oidc import SignInRefused
from ..settings import OidcSettings
from ..settings import current as settings
from .pages import SESSION_COOKIE, _page, _set_cookie, now

ATTEMPT_COOKIE, ATTEMPT_PATH = "console_oidc", "/sign-in/oidc"
router = APIRouter(tags=["console"], include_in_schema=False)


@functools.cache
def provider(oidc_settings: OidcSettings) -> Provider:
    return Provider(oidc_settings)


def _refused(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    response = _page(request, "error.html", status, session=None, title=title, message=message)
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response


def _unavailable(request: Request) -> HTMLResponse:
    message = "The sign-in provider did not answer as expected. Try again in a minute; if it persists, tell IT."
    return _refused(request, 502, "Sign-in provider unavailable", message)


@router.get("/sign-in/oidc")
async def start(request: Request) -> Response:
    configured = settings().oidc
    if configured is None:
        return _refused(request, 404, "No sign-in provider", "This console has no OpenID Connect provider.")
    attempt = oidc.new_attempt(now())
    try:
        url = await provider(configured).authorization_url(attempt)
    except ProviderUnavailable:
        return _unavailable(request)
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        ATTEMPT_COOKIE,
        oidc.encode_attempt(attempt, settings().session_keys[0]),
        max_age=oidc.ATTEMPT_SECONDS,
        path=ATTEMPT_PATH,
        httponly=True,
        samesite="lax",  # it must come back with the provider's top-level redirect (Strict would not)
        secure=settings().secure_cookies,
    )
    return response


@router.get("/sign-in/oidc/callback")
async def callback(request: Request) -> Response:
    configured = settings().oidc
    if configured is None:
        return _refused(request, 404, "No sign-in provider", "This console has no OpenID Connect provider.")
    cookie = request.cookies.get(ATTEMPT_COOKIE, "")
    attempt = oidc.decode_attempt(cookie, settings().session_keys, now()) if cookie else None
    again = "Start again from the sign-in page."
    unknown = "Sign-in not recognised"
    if attempt is None:
        why = "This browser did not start this sign-in (or it is older than 10 minutes)."
        return _refused(request, 403, unknown, f"{why} {again}")
    if not oidc.state_matches(attempt, request.query_params.get("state")):
        return _refused(request, 403, unknown, f"The provider's answer is for another sign-in. {again}")
    if error := request.query_params.get("error"):
        return _refused(request, 401, "Not signed in", f"The provider did not sign you in ({error[:100]}). {again}")
    code = request.query_params.get("code")
    if not code:
        return _refused(request, 400, "Not signed in", f"The provider's answer has no code. {again}")
    p = provider(configured)
    try:
        claims = await p.verified_claims(await p.exchange(code, attempt.verifier), attempt.nonce, now())
        principal = oidc.principal_of(claims, configured.clinics_claim, configured.scope_claim)
    except SignInRefused as refused:
        return _refused(request, 401, "Not signed in", f"{str(refused)[:300]}. {again}")
    except ProviderUnavailable:
        return _unavailable(request)
    request.state.principal = Principal(principal.subject, principal.clinics, frozenset({READ}))  # the audit's who
    session = sessions.new_session(principal.subject, principal.clinics, now(), int(claims["exp"]))
    response = _page(request, "signed_in.html", session=session)
    _set_cookie(
        response,
        SESSION_COOKIE,
        sessions.encode_session(session, settings().session_keys[0]),
        max_age=max(1, session.expires_at - int(now().timestamp())),
    )
    response.delete_cookie(ATTEMPT_COOKIE, path=ATTEMPT_PATH)
    return response
