"""The patient's pages, public: the signed link from the patient's message is the proof (no token, no
login). Rate limited per link and, more widely, per client address. An unknown, altered or expired link
gets a page that says so and changes nothing; the token never reaches a log, and the pages carry
no scripts and are kept out of caches, referrers and search engines.

- GET/POST /p/offer/{token}: a waitlist offer (patient_offers)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from frontdesk.common import patient_links
from frontdesk.common.api import error_responses
from frontdesk.common.db import Connection
from frontdesk.common.ratelimit import by_client, by_path_param, rate_limited
from frontdesk.common.service import ServiceRuntime, runtime_of

from .. import commands, patient_offers
from . import patient_html as html

router = APIRouter(
    prefix="/p",
    tags=["patient"],
    include_in_schema=False,
    dependencies=[
        rate_limited("patient-pages", per_minute=60, key=by_path_param("token")),
        rate_limited("patient-page-clients", per_minute=600, key=by_client),
    ],
    responses=error_responses(429),
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
UNKNOWN = "This link is not valid. Please use the link from your latest message, or call the practice."
EXPIRED = "This offer has expired. You stay on the waitlist; we will message you when another time opens."


def page(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def verified(purpose: patient_links.Purpose, token: str) -> str | HTMLResponse:
    """The link's id, or the page for a bad link (404 forged or altered, 410 expired)."""
    try:
        link = patient_links.verify(purpose, token, patient_links.current("scheduler").keys(), commands.now_utc())
    except patient_links.LinkExpired as exc:
        return page(html.problem_page(exc.public), 410)
    except patient_links.LinkError as exc:
        return page(html.problem_page(exc.public), 404)
    return link.link_id


async def _practice(conn: Connection, clinic_id: str) -> tuple[str, Any]:
    clinic = await commands.clinic_of(conn, clinic_id)
    if clinic is None:
        return "Your practice", None
    return clinic.name, clinic.zone


async def _offer_answer(runtime: ServiceRuntime, offer_id: str, action: str, post: str = "") -> HTMLResponse:
    """The offer's page as it stands; `post`: "booked" (this answer booked it) or "again" (a repeat)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        offer = await patient_offers.view(conn, offer_id, commands.now_utc())
        if offer is None:
            return page(html.problem_page(UNKNOWN), 404)
        practice, zone = await _practice(conn, offer.clinic_id)
    slot = html.when(offer.starts_at, zone) if zone else offer.starts_at.isoformat()
    if offer.state == "open":
        return page(html.offer_page(practice, slot, action))
    if offer.state == "booked":
        return page(html.booked_page(practice, slot, already=post != "booked"), 410 if post == "again" else 200)
    if offer.state == "taken":
        return page(html.taken_page(practice), 409)
    return page(html.problem_page(EXPIRED), 410)


@router.get("/offer/{token}", response_class=HTMLResponse)
async def offer_form(token: str, runtime: ServiceRuntime = Depends(runtime_of)) -> HTMLResponse:
    offer_id = verified("offer", token)
    if isinstance(offer_id, HTMLResponse):
        return offer_id
    return await _offer_answer(runtime, offer_id, f"/p/offer/{token}")


@router.post("/offer/{token}", response_class=HTMLResponse)
async def offer_book(token: str, request: Request, runtime: ServiceRuntime = Depends(runtime_of)) -> HTMLResponse:
    offer_id = verified("offer", token)
    if isinstance(offer_id, HTMLResponse):
        return offer_id
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        result = await patient_offers.book(uow, offer_id, commands.now_utc())
    if result.reason == "not_found":
        return page(html.problem_page(UNKNOWN), 404)
    booked_now = result.reason is None and result.changed
    return await _offer_answer(runtime, offer_id, f"/p/offer/{token}", "booked" if booked_now else "again")
