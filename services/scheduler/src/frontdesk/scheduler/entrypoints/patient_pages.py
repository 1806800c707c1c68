"""The patient's pages, public: the signed link from the patient's message is the proof (no token, no
login). Rate limited per link and, more widely, per client address. An unknown, altered or expired link
gets a page that says so and changes nothing; the token never reaches a log, and the pages carry
no scripts and are kept out of caches, referrers and search engines.

- GET/POST /p/offer/{token}: a waitlist offer (patient_offers)
- GET/POST /p/reschedule/{token}: a reschedule request (reschedule_requests)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from frontdesk.common import patient_links
from frontdesk.common.api import error_responses
from frontdesk.common.db import Connection
from frontdesk.common.ratelimit import by_client, by_path_param, rate_limited
from frontdesk.common.service import Runtime, ServiceRuntime

from .. import booking, patient_offers, reschedule_requests
from ..adapters import repository
from ..adapters import reschedule_requests as requests_store
from ..adapters.clinics import clinic_of
from . import patient_html as html

router = APIRouter(
    prefix="/p",
    tags=["patient"],
    dependencies=[
        rate_limited("patient-pages", per_minute=60, key=by_path_param("token")),
        rate_limited("patient-page-clients", per_minute=600, key=by_client),
    ],
    responses={
        **error_responses(429),
        **{
            code: {"description": text, "content": {"text/html": {"schema": {"type": "string"}}}}
            for code, text in (
                (404, "Unknown, forged or altered link"),
                (409, "The slot was taken, or the time picked was taken meanwhile"),
                (410, "Expired link, or one already used"),
                (422, "No usable time picked"),
            )
        },
    },
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
UNKNOWN = "This link is not valid. Please use the link from your latest message, or call the practice."
CLOSED = "This link is no longer open. The practice will contact you about your appointment."
# A reminder's link after the appointment changed (moved, cancelled) or started: nobody was asked to act.
CHANGED = "This link is no longer open: your appointment has changed since. Please use your latest message, or call."
EXPIRED = "This offer has expired. You stay on the waitlist; we will message you when another time opens."


def page(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def verified(purpose: patient_links.Purpose, token: str) -> str | HTMLResponse:
    """The link's id, or the page for a bad link (404 forged or altered, 410 expired)."""
    try:
        link = patient_links.verify(purpose, token, patient_links.current("scheduler").keys(), booking.now_utc())
    except patient_links.LinkExpired as exc:
        return page(html.problem_page(exc.public), 410)
    except patient_links.LinkError as exc:
        return page(html.problem_page(exc.public), 404)
    return link.link_id


async def _practice(conn: Connection, clinic_id: str, provider_id: str) -> tuple[str, Any]:
    """The practice's name and the zone its SMS told the time in (the provider's day's zone)."""
    clinic = await clinic_of(conn, clinic_id)
    if clinic is None:
        return "Your practice", None
    return clinic.name, clinic.zone_of(provider_id)


async def _offer_answer(
    runtime: ServiceRuntime, offer_id: str, action: str, post: str = "", problem: str = ""
) -> HTMLResponse:
    """The offer's page as it stands; `post`: "booked" (this answer booked it) or "again" (a repeat)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        offer = await patient_offers.view(conn, offer_id, booking.now_utc())
        if offer is None:
            return page(html.problem_page(UNKNOWN), 404)
        practice, zone = await _practice(conn, offer.clinic_id, offer.provider_id)
    slot = html.when(offer.starts_at, zone) if zone else offer.starts_at.isoformat()
    if offer.state == "open":
        return page(html.offer_page(practice, slot, action))
    if offer.state == "booked":
        return page(html.booked_page(practice, slot, already=post != "booked"), 410 if post == "again" else 200)
    if offer.state == "taken":
        others = (
            [html.Choice(t.start.isoformat(), html.when(t.start, zone)) for t in offer.alternatives] if zone else []
        )
        return page(html.taken_page(practice, others, action, problem), 409)
    return page(html.problem_page(EXPIRED), 410)


@router.get("/offer/{token}", response_class=HTMLResponse)
async def offer_form(token: str, runtime: Runtime) -> HTMLResponse:
    offer_id = verified("offer", token)
    if isinstance(offer_id, HTMLResponse):
        return offer_id
    return await _offer_answer(runtime, offer_id, f"/p/offer/{token}")


@router.post("/offer/{token}", response_class=HTMLResponse)
async def offer_book(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    offer_id = verified("offer", token)
    if isinstance(offer_id, HTMLResponse):
        return offer_id
    form = await _form(request)
    picked = _aware(form.get("starts_at"))
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        if "starts_at" not in form:
            result = await patient_offers.book(uow, offer_id, booking.now_utc())
        elif picked is None:
            result = booking.Result(422, reason="invalid", detail="no time picked")
        else:  # one of the alternatives shown after the slot was taken
            result = await patient_offers.book_alternative(uow, offer_id, picked, booking.now_utc())
    if result.reason == "not_found":
        return page(html.problem_page(UNKNOWN), 404)
    booked_now = result.reason is None and result.changed
    problem = (
        "" if result.reason in (None, "offer_closed") else "Sorry, that time is no longer open. Please pick another."
    )
    return await _offer_answer(runtime, offer_id, f"/p/offer/{token}", "booked" if booked_now else "again", problem)


# --- a reschedule request -------------------------------------------------------------------------


async def _reschedule_page(
    runtime: ServiceRuntime, reschedule_id: str, action: str, problem: str = "", status: int = 200
) -> HTMLResponse:
    """The request's page as it stands: the next open times while it is open, else what became of it."""
    assert runtime.pool is not None
    now = booking.now_utc()
    async with runtime.pool.acquire() as conn:
        request = await requests_store.get(conn, reschedule_id)
        appointment = await repository.get_appointment(conn, request.appointment_id) if request else None
        if request is None or appointment is None:
            return page(html.problem_page(UNKNOWN), 404)
        practice, zone = await _practice(conn, request.clinic_id, appointment.provider_id)
        times = await reschedule_requests.next_open_times(conn, appointment, now) if request.status == "open" else []
    zone = zone or ZoneInfo("UTC")
    current = html.when(appointment.starts_at, zone)
    if request.status == "moved":  # shown again, or answered again: nothing changes (410 for a repeat)
        return page(html.moved_page(practice, current), 200 if status == 200 else 410)
    if request.status == "closed":  # the appointment was moved or cancelled otherwise
        return page(html.problem_page(CHANGED), 410)
    if request.status != "open" or request.expires_at <= now:  # a staff task now, or past its window
        return page(html.problem_page(CLOSED if request.kind == "reply" else CHANGED), 410)
    choices = [html.Choice(t.start.isoformat(), html.when(t.start, zone)) for t in times]
    asked = request.kind == "reply"
    return page(html.choose_page(practice, current, choices, action, problem, staff_follow_up=asked), status)


@router.get("/reschedule/{token}", response_class=HTMLResponse)
async def reschedule_form(token: str, runtime: Runtime) -> HTMLResponse:
    reschedule_id = verified("reschedule", token)
    if isinstance(reschedule_id, HTMLResponse):
        return reschedule_id
    return await _reschedule_page(runtime, reschedule_id, f"/p/reschedule/{token}")


async def _form(request: Request) -> dict[str, str]:
    """The first value of each field of a small form post (anything beyond 4 KiB is ignored)."""
    raw = (await request.body())[:4096].decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(raw).items() if values}


def _aware(value: str | None) -> datetime | None:
    """A picked time, as the page sent it (ISO 8601 with its offset); None if it is not one."""
    try:
        picked = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return picked if picked is not None and picked.tzinfo is not None else None


@router.post("/reschedule/{token}", response_class=HTMLResponse)
async def reschedule_choose(token: str, request: Request, runtime: Runtime) -> HTMLResponse:
    reschedule_id = verified("reschedule", token)
    if isinstance(reschedule_id, HTMLResponse):
        return reschedule_id
    action = f"/p/reschedule/{token}"
    picked = _aware((await _form(request)).get("starts_at"))
    if picked is None:
        return await _reschedule_page(runtime, reschedule_id, action, "Please choose one of the times below.", 422)
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        result = await reschedule_requests.choose(uow, reschedule_id, picked, booking.now_utc())
    if result.reason == "not_found":
        return page(html.problem_page(UNKNOWN), 404)
    if result.reason == "invalid_transition":  # cancelled or already seen meanwhile
        return page(html.problem_page(CHANGED), 410)
    if result.reason == "request_closed" or (result.reason is None and not result.changed):
        return await _reschedule_page(runtime, reschedule_id, action, status=410)
    if result.reason is not None:  # taken meanwhile, or not bookable: the times still open
        problem = (
            "Sorry, that time was just taken. Please choose another."
            if result.status_code == 409
            else ("That time cannot be booked. Please choose one of the times below.")
        )
        return await _reschedule_page(runtime, reschedule_id, action, problem, result.status_code)
    return await _reschedule_page(runtime, reschedule_id, action)
