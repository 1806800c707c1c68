"""The clinics' booking pages, public (online_booking.py has the rules; docs/patient-loops.md):

- GET /p/clinics/{clinic_id}/book: a clinic whose `online_booking` is `public`
- GET /p/book/{token}: a signed booking link (a clinic with `link` or `public`), single use
- POST /p/book/start, /p/book/times, /p/book/hold, /p/book/code: the steps, each a plain form
- POST /p/book/status: "No code yet?" on the code step: a code followup could not text is said at once

No cookies and no login: nothing ambient for a forged cross-site post to ride on; cross-site posts
are refused anyway (Fetch Metadata, Origin), and every form carries the signed `entry` of the page it
came from. What the patient types travels in form bodies only. Limits: every route per client address
(`booking-page-clients`), holds per address and codes per number (domain/online_booking.py), each a
429 page that says when to come back.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from frontdesk.common.api import error_responses
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.ratelimit import by_client, client_address, rate_limited
from frontdesk.common.service import Runtime, ServiceRuntime

from .. import booking, online_booking
from ..adapters.clinics import clinic_of
from ..domain import booking as booking_rules
from ..domain import online_booking as rules
from . import booking_html as forms
from . import patient_html as html
from .patient_pages import _form, page, verified

router = APIRouter(
    prefix="/p",
    tags=["patient"],
    dependencies=[rate_limited("booking-page-clients", per_minute=60, key=by_client)],
    responses={
        **error_responses(429),
        **{
            code: {"description": text, "content": {"text/html": {"schema": {"type": "string"}}}}
            for code, text in (
                (403, "A cross-site form post"),
                (404, "No booking page: unknown clinic, booking off, or a forged link"),
                (409, "The time was taken meanwhile: the times still open"),
                (410, "An expired or used link, an expired hold, or too many wrong codes"),
                (422, "Something missing or not valid in the form"),
                (503, "The page cannot send codes (not configured)"),
            )
        },
    },
)
NO_PAGE = "This practice does not take bookings online. Please call the practice."
LINK_USED = "This booking link has been used or has expired. Please call the practice for a new one."
UNAVAILABLE = "Online booking is not available right now. Please call the practice."
START_AGAIN = "This page has expired. Please open the booking page again."


def cross_site(request: Request) -> bool:
    """A post from another site's page, which these forms never are. Browsers say where a request
    comes from (Fetch Metadata); without that, an Origin naming another host. (With the pages'
    `Referrer-Policy: no-referrer` a browser sends `Origin: null` even for its own form.)"""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def _zone_name(zone: ZoneInfo) -> str:
    return zone.key.replace("_", " ")


def _label(value: str) -> str:
    return value.replace("-", " ").replace("_", " ").capitalize()


def _type_options(clinic: ClinicConfig) -> list[forms.Option]:
    notes = {"new": " (new patients)", "existing": " (existing patients)", "any": ""}
    return [
        forms.Option(t.type_id, (t.label or _label(t.type_id)) + notes[t.patients])
        for t in clinic.scheduling.appointment_types
    ]


def _provider_name(clinic: ClinicConfig, provider_id: str) -> str:
    provider = booking_rules.find_provider(clinic, provider_id)
    return (provider.display_name if provider else None) or _label(provider_id)


def _entry_token(entry: rules.Entry) -> str:
    return rules.sign_entry(online_booking.link_keys()[0], entry)


async def _open_entry(runtime: ServiceRuntime, token: str) -> tuple[rules.Entry, ClinicConfig] | HTMLResponse:
    """The page a form belongs to, still taking bookings; else the page that says why not."""
    entry = rules.open_entry(online_booking.link_keys(), token, booking.now_utc())
    if entry is None:
        return page(html.problem_page(START_AGAIN), 410)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic = await clinic_of(conn, entry.clinic_id)
        link_ok = entry.link_id is None or await online_booking.usable_link(conn, entry.link_id, booking.now_utc())
    if clinic is None or not online_booking.page_open(clinic, entry.link_id is not None):
        return page(html.problem_page(NO_PAGE), 404)
    if not link_ok:
        return page(html.problem_page(LINK_USED), 410)
    if not online_booking.can_send_codes():
        return page(html.problem_page(UNAVAILABLE), 503)
    return entry, clinic


def _start(clinic: ClinicConfig, entry: rules.Entry, chosen: dict[str, str] | None = None, problem: str = "") -> str:
    providers = [forms.Option(p.provider_id, _provider_name(clinic, p.provider_id)) for p in clinic.providers]
    return forms.start_page(clinic.name, _entry_token(entry), _type_options(clinic), providers, chosen, problem)


async def _landing(runtime: ServiceRuntime, clinic_id: str, link_id: str | None) -> HTMLResponse:
    expires = booking.now_utc() + rules.FORM_TTL
    opened = await _open_entry(runtime, _entry_token(rules.Entry(clinic_id, link_id, expires)))
    if isinstance(opened, HTMLResponse):
        return opened
    entry, clinic = opened
    return page(_start(clinic, entry))


@router.get("/clinics/{clinic_id}/book", response_class=HTMLResponse)
async def public_page(clinic_id: str, runtime: Runtime) -> HTMLResponse:
    if len(clinic_id) > 128:
        return page(html.problem_page(NO_PAGE), 404)
    return await _landing(runtime, clinic_id, None)


@router.get("/book/{token}", response_class=HTMLResponse)
async def linked_page(token: str, runtime: Runtime) -> HTMLResponse:
    link_id = verified("booking", token)
    if isinstance(link_id, HTMLResponse):
        return link_id
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        link = await online_booking.usable_link(conn, link_id, booking.now_utc())
    if link is None:
        return page(html.problem_page(LINK_USED), 410)
    return await _landing(runtime, link.clinic_id, link.link_id)


async def _posted(
    request: Request, runtime: ServiceRuntime
) -> tuple[dict[str, str], rules.Entry, ClinicConfig] | HTMLResponse:
    if cross_site(request):
        return page(html.problem_page("This form can only be sent from the practice's booking page."), 403)
    form = await _form(request)
    opened = await _open_entry(runtime, form.get("entry", ""))
    if isinstance(opened, HTMLResponse):
        return opened
    return form, *opened


@router.post("/book/start", response_class=HTMLResponse)
async def start_again(request: Request, runtime: Runtime) -> HTMLResponse:
    posted = await _posted(request, runtime)
    if isinstance(posted, HTMLResponse):
        return posted
    form, entry, clinic = posted
    return page(_start(clinic, entry, form))


def _choice_problem(clinic: ClinicConfig, form: dict[str, str]) -> str:
    """Why the first step's choices cannot be booked ("" when they can)."""
    claim, kind = form.get("claim"), booking_rules.find_type(clinic, form.get("type", ""))
    provider_id = form.get("provider", "")
    if claim not in ("new", "existing") or kind is None:
        return "Please say whether you have been here before, and choose what the appointment is for."
    if not rules.type_fits(kind.patients, claim == "new"):
        return f"{kind.label or _label(kind.type_id)} is for {kind.patients} patients. Please choose another."
    if provider_id and (
        booking_rules.find_provider(clinic, provider_id) is None
        or not any(p.provider_id == provider_id for p in clinic.providers)
    ):
        return "Please choose who the appointment is with."
    return ""


async def _times(
    runtime: ServiceRuntime,
    clinic: ClinicConfig,
    entry: rules.Entry,
    form: dict[str, str],
    problem: str = "",
    status: int = 200,
) -> HTMLResponse:
    assert runtime.pool is not None
    provider_id = form.get("provider") or None
    async with runtime.pool.acquire() as conn:
        times = await online_booking.bookable_times(conn, clinic, form["type"], provider_id, booking.now_utc())
    # Each time as its provider's day is kept (the reminders say the same), named below.
    zones = {t.provider_id: clinic.zone_of(t.provider_id) for t in times}
    days: dict[str, list[forms.Option]] = {}
    for t in times:
        local = t.window.start.astimezone(zones[t.provider_id])
        label = f"{local.hour % 12 or 12}:{local:%M %p}"
        if provider_id is None:
            label += f" with {_provider_name(clinic, t.provider_id)}"
        days.setdefault(f"{local:%A, %B} {local.day}", []).append(
            forms.Option(f"{t.provider_id}|{t.window.start.isoformat()}", label)
        )
    kind = booking_rules.find_type(clinic, form["type"])
    assert kind is not None
    who = _provider_name(clinic, provider_id) if provider_id else "the first available provider"
    shown = set(zones.values()) or {clinic.zone_of(provider_id) if provider_id else clinic.zone}
    where = f"{_zone_name(shown.pop())} time" if len(shown) == 1 else "each provider's local time"
    summary = f"{kind.label or _label(kind.type_id)} with {who}. Times are {where}."
    grouped = [forms.Day(heading, tuple(options)) for heading, options in days.items()]
    return page(forms.times_page(clinic.name, _entry_token(entry), form, grouped, summary, problem), status)


@router.post("/book/times", response_class=HTMLResponse)
async def choose_time(request: Request, runtime: Runtime) -> HTMLResponse:
    posted = await _posted(request, runtime)
    if isinstance(posted, HTMLResponse):
        return posted
    form, entry, clinic = posted
    problem = _choice_problem(clinic, form)
    if problem:
        return page(_start(clinic, entry, form, problem), 422)
    return await _times(runtime, clinic, entry, form)


def _picked(value: str) -> tuple[str, datetime] | None:
    provider_id, _, starts = value.partition("|")
    try:
        at = datetime.fromisoformat(starts)
    except ValueError:
        return None
    return (provider_id, at) if provider_id and at.tzinfo is not None else None


@router.post("/book/hold", response_class=HTMLResponse)
async def hold(request: Request, runtime: Runtime) -> HTMLResponse:
    posted = await _posted(request, runtime)
    if isinstance(posted, HTMLResponse):
        return posted
    form, entry, clinic = posted
    if _choice_problem(clinic, form):
        return page(_start(clinic, entry, form, _choice_problem(clinic, form)), 422)
    picked, phone = _picked(form.get("slot", "")), rules.normalize_phone(form.get("phone", ""))
    name = rules.normalize_name(form.get("name", ""))
    if picked is None or phone is None or name is None:
        missing = "a time" if picked is None else ("your full name" if name is None else "a mobile number we can text")
        return await _times(runtime, clinic, entry, form, f"Please give {missing}.", 422)
    request_ = online_booking.HoldRequest(
        entry,
        "new" if form["claim"] == "new" else "existing",
        form["type"],
        picked[0],
        picked[1],
        phone,
        client_address(request),
    )
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        held = await online_booking.hold_and_send_code(uow, request_, booking.now_utc())
    if isinstance(held, online_booking.Limited):
        return _limited(held)
    if isinstance(held, booking.Result):
        problem = (
            "Sorry, that time was just taken. Please choose another."
            if held.status_code == 409
            else "That time cannot be booked. Please choose another."
        )
        return await _times(
            runtime, clinic, entry, {**form, "slot": ""}, problem, 409 if held.status_code == 409 else 422
        )
    session = {"session": held.verification_id, "phone": phone, "name": name, "slot": form["slot"]}
    session |= {k: form.get(k, "") for k in ("claim", "type", "provider")}  # to start again from the times
    return page(_code(clinic, entry, session, held.expires_at))


def _limited(limited: online_booking.Limited) -> HTMLResponse:
    minutes = max(1, -(-limited.retry_after // 60))
    what = "for this phone number" if limited.by == "phone" else "from this connection"
    text = f"Too many booking attempts {what}. Please try again in {minutes} minutes, or call the practice."
    response = page(html.problem_page(text), 429)
    response.headers["Retry-After"] = str(limited.retry_after)
    return response


def _code(
    clinic: ClinicConfig,
    entry: rules.Entry,
    session: dict[str, str],
    held_until: datetime,
    problem: str = "",
    notice: str = "",
) -> str:
    picked = _picked(session.get("slot", ""))
    slot = html.when(picked[1], clinic.zone_of(picked[0])) if picked else ""
    local = held_until.astimezone(clinic.zone)  # as the code's SMS says it (followup knows no provider)
    until = f"{local.hour % 12 or 12}:{local:%M %p}"
    return forms.code_page(clinic.name, _entry_token(entry), session, slot, until, problem, notice)


SESSION_FIELDS = ("session", "phone", "name", "slot", "claim", "type", "provider")


@router.post("/book/code", response_class=HTMLResponse)
async def confirm(request: Request, runtime: Runtime) -> HTMLResponse:
    posted = await _posted(request, runtime)
    if isinstance(posted, HTMLResponse):
        return posted
    form, entry, clinic = posted
    session = {k: form.get(k, "") for k in SESSION_FIELDS}
    code, phone = rules.clean_code(form.get("code", "")), rules.normalize_phone(session["phone"]) or ""
    async with runtime.unit_of_work(request.headers.get("traceparent")) as uow:
        answer = await online_booking.confirm_code(
            uow, session["session"][:64], code or "", phone, session["name"], booking.now_utc()
        )
    if answer.answer == "not_found" or (answer.clinic_id and answer.clinic_id != entry.clinic_id):
        return page(html.problem_page(START_AGAIN), 410)
    return _code_answer(clinic, entry, session, answer)


@router.post("/book/status", response_class=HTMLResponse)
async def code_status(request: Request, runtime: Runtime) -> HTMLResponse:
    """'No code yet?': what became of the text, without typing a code (changes nothing)."""
    posted = await _posted(request, runtime)
    if isinstance(posted, HTMLResponse):
        return posted
    form, entry, clinic = posted
    session = {k: form.get(k, "") for k in SESSION_FIELDS}
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        answer = await online_booking.code_status(conn, session["session"][:64], booking.now_utc())
    if answer.answer == "not_found" or answer.clinic_id != entry.clinic_id:
        return page(html.problem_page(START_AGAIN), 410)
    return _code_answer(clinic, entry, session, answer)


STILL_SENDING = (
    "We have not been told of any problem with the text. Codes usually arrive within a minute; if none has"
    " come after two, check the number you gave, or call the practice."
)
_CLOSED = {
    "locked": "Too many wrong codes. The time has been released; please start again.",
    "expired": "The time we held for you has been released. Please start again and choose a time.",
    "closed": "This booking attempt is over. Please start again, or call the practice.",
    "no_record": "We could not find your record with this name and number. Please call the practice.",
    "type": "This appointment type does not match your record. Please call the practice.",
}


def _code_answer(
    clinic: ClinicConfig, entry: rules.Entry, session: dict[str, str], answer: online_booking.CodeAnswer
) -> HTMLResponse:
    if answer.answer in ("booked", "already_booked"):
        booked_one = answer.appointment
        slot = html.when(booked_one.starts_at, clinic.zone_of(booked_one.provider_id)) if booked_one else ""
        provider_id = booked_one.provider_id if booked_one else ""
        booked = forms.booked_page(
            clinic.name, slot, _provider_name(clinic, provider_id), already=answer.answer == "already_booked"
        )
        return page(booked, 200 if answer.answer == "booked" else 410)
    if answer.answer == "undelivered":
        phone = rules.display_phone(session["phone"])  # as they would type it, to correct it
        kept = {k: session[k] for k in ("claim", "type", "provider", "name", "slot")} | {"phone": phone}
        return page(forms.not_texted_page(clinic.name, _entry_token(entry), kept, phone), 410)
    if answer.answer == "waiting":
        assert answer.expires_at is not None
        return page(_code(clinic, entry, session, answer.expires_at, notice=STILL_SENDING))
    if answer.answer == "wrong":
        left = answer.attempts_left
        problem = f"That code is not right. {left} {'try' if left == 1 else 'tries'} left."
        assert answer.expires_at is not None
        return page(_code(clinic, entry, session, answer.expires_at, problem), 422)
    return page(html.problem_page(_CLOSED[answer.answer]), 410)
