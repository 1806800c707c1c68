"""The patient loops as staff see them, on the real stack in a real headless Chromium: a cancelled slot
refilled from the waitlist through the patient's page, a "3" reply the patient settled on their page,
another left to staff. The console's Patient loops panel (the clinic's worklists page) counts them from
the scheduler's events; the Network's open items count the staff task. axe-core on the page;
screenshots at desktop and phone width into docs/console."""

from __future__ import annotations

import asyncio
import html
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.common import patient_links
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from ..integration.test_patient_loops import WAIT, _booked_patient, _reply_three
from .browser import DESKTOP, PHONE, screenshot
from .test_console import http_session, no_serious_violations, sign_in, wait_for, wait_until_known
from .test_console_reschedule_tasks import _window_passes
from .test_console_worklists import text_of

pytestmark = pytest.mark.integration
KEY = patient_links.LOCAL_DEV_KEY.encode()


def _page(scheduler: ServiceProcess, purpose: patient_links.Purpose, link_id: str) -> str:
    """The patient's page as followup's SMS links to it (signed here with the local stack's key)."""
    token = patient_links.sign(purpose, link_id, datetime.now(UTC) + timedelta(hours=1), KEY)
    return f"{scheduler.url}{patient_links.PAGE_PATHS[purpose]}/{token}"


async def _book(api: httpx.AsyncClient, appointment: dict[str, Any], starts: datetime) -> dict[str, Any]:
    same = {k: appointment[k] for k in ("clinic_id", "provider_id", "appointment_type")}
    booked = await api.post(
        "/v1/appointments",
        json={**same, "patient_id": uid("pat"), "starts_at": starts.isoformat()},
        headers={"Idempotency-Key": uid("k")},
    )
    assert booked.status_code == 201, booked.text
    answer: dict[str, Any] = booked.json()
    return answer


async def _refilled_from_the_waitlist(stack: LocalStack, scheduler: ServiceProcess, appointment: dict[str, Any]) -> str:
    """A waitlisted patient, a slot freed by a cancellation, the patient books it on their page."""
    slot = datetime.fromisoformat(appointment["starts_at"]) + timedelta(days=1)
    async with scheduler.client(timeout=30) as api:
        waiting = uid("pat")
        joined = await api.post(
            "/v1/waitlist",
            json={
                "clinic_id": appointment["clinic_id"],
                "patient_id": waiting,
                "appointment_type": "checkup",
                "window_start": (slot - timedelta(hours=2)).isoformat(),
                "window_end": (slot + timedelta(hours=2)).isoformat(),
            },
            headers={"Idempotency-Key": uid("k")},
        )
        assert joined.status_code == 201, joined.text
        freed = await _book(api, appointment, slot)
        cancelled = await api.post(
            f"/v1/appointments/{freed['appointment_id']}/cancel",
            json={"by": "patient"},
            headers={"Idempotency-Key": uid("k")},
        )
        assert cancelled.status_code == 200, cancelled.text
    deadline = time.monotonic() + WAIT
    while not (
        offers := await query(
            stack.database_url("scheduler"),
            "SELECT offer_id FROM waitlist_offers o JOIN waitlist w USING (waitlist_id) WHERE w.patient_id = $1",
            waiting,
        )
    ):
        assert time.monotonic() < deadline, "no offer"
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(timeout=30) as patient:
        booked = await patient.post(_page(scheduler, "offer", str(offers[0]["offer_id"])))
        assert booked.status_code == 200 and "You are booked" in booked.text, booked.text
    return waiting


async def _moved_by_the_patient(stack: LocalStack, scheduler: ServiceProcess, appointment: dict[str, Any]) -> None:
    await _reply_three(stack, appointment)
    deadline = time.monotonic() + WAIT
    sql = "SELECT reschedule_id FROM reschedule_requests WHERE appointment_id = $1 AND kind = 'reply'"
    while not (rows := await query(stack.database_url("scheduler"), sql, appointment["appointment_id"])):
        assert time.monotonic() < deadline, "the scheduler never opened the request"
        await asyncio.sleep(0.2)
    link = _page(scheduler, "reschedule", str(rows[0]["reschedule_id"]))
    async with httpx.AsyncClient(timeout=30) as patient:
        times = re.findall(r'name=starts_at value="([^"]+)"', (await patient.get(link)).text)
        moved = await patient.post(link, data={"starts_at": html.unescape(times[-1])})
        assert moved.status_code == 200 and "has been moved" in moved.text, moved.text


def _figure(browser: object, name: str, expected: str) -> None:
    css = f'[data-figure="{name}"]'
    try:
        WebDriverWait(browser, WAIT, poll_frequency=0.2).until(lambda d: text_of(d, css) == expected)
    except Exception:
        raise AssertionError(f"{name}: {text_of(browser, css)!r}, expected {expected!r}") from None


def test_the_patient_loops_panel_and_the_networks_open_items(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess]
) -> None:
    console, scheduler = services["console"], services["scheduler"]
    for proc in services.values():  # another module may have stopped one
        if not proc.process.running():
            proc.start()
    config, appointment, _ = asyncio.run(_booked_patient(stack, services, reschedule_staff_hours=2))
    clinic = config.clinic_id
    wait_until_known(console, clinic)  # the scheduler and followup know it by now; the console may not
    waiting = asyncio.run(_refilled_from_the_waitlist(stack, scheduler, appointment))
    asyncio.run(_moved_by_the_patient(stack, scheduler, appointment))

    async def left_to_staff() -> dict[str, Any]:
        async with scheduler.client(timeout=30) as api:
            return await _book(api, appointment, datetime.fromisoformat(appointment["starts_at"]) + timedelta(hours=3))

    untouched = asyncio.run(left_to_staff())
    asyncio.run(_reply_three(stack, untouched))
    _window_passes(stack, untouched["appointment_id"])

    sign_in(browser, console, stack.api_token([clinic], subject="desk-ana"))
    wait_for(browser, "#live .live")
    browser.get(f"{console.url}/clinics/{clinic}/worklists")  # type: ignore[attr-defined]
    wait_for(browser, "[data-patient-loops]")
    _figure(browser, "by-staff", "1")  # the last event of the three: the others are in by then
    _figure(browser, "slots-offered", "1")
    _figure(browser, "refilled", "1 (100%)")
    _figure(browser, "by-patient", "1")
    _figure(browser, "by-reminder-link", "0")
    panel = text_of(browser, "[data-patient-loops]")
    zone = ZoneInfo(config.timezone)
    since = (datetime.now(zone) - timedelta(days=6)).strftime("%a %d %b 00:00")
    assert f"Since {since} ({config.timezone})" in panel  # seven local days of the clinic's own zone
    for figure in ("refill-median", "refill-p90"):  # booked seconds after the offer
        assert re.fullmatch(r"\d+ s", text_of(browser, f'[data-figure="{figure}"]')), panel
    for patient in (appointment["patient_id"], untouched["patient_id"], waiting):
        assert patient not in panel  # counts only
    no_serious_violations(browser)
    screenshot(browser, "worklists-patient-loops-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "worklists-patient-loops-phone", PHONE)  # type: ignore[arg-type]
    browser.set_window_size(*PHONE)  # type: ignore[attr-defined]
    no_serious_violations(browser)
    browser.set_window_size(*DESKTOP)  # type: ignore[attr-defined]

    # The Network's open items count the open reschedule task (nothing else is open in this clinic).
    with http_session(console, stack.api_token([clinic], subject="desk-ana")) as staff:
        network = staff.get("/network").text
        assert f'<a href="/clinics/{clinic}/worklists">1</a>' in network
    with http_session(console, stack.api_token(["some-other-clinic"], subject="intruder")) as other:
        assert other.get(f"/clinics/{clinic}/worklists").status_code == 403
