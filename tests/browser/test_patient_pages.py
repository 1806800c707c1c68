"""The patient's pages in a real headless Chromium against the real stack, at phone and desktop width:
a waitlist offer booked with one tap (a plain form, no scripts), the same slot seen by a second patient
("this slot has been taken"), a tampered link, and a reschedule picked from the next open times;
axe-core on every page; screenshots into docs/patient-pages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.common import patient_links
from frontdesk.common.contracts import AppointmentReplyReceived
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from ..integration.test_patient_loops import known_everywhere, loop_clinic
from .browser import DESKTOP, PAGE_WAIT, PHONE, REPO, screenshot, serious_violations

pytestmark = pytest.mark.integration
SHOTS = REPO / "docs" / "patient-pages"
KEY = patient_links.LOCAL_DEV_KEY.encode()


def no_serious_violations(driver: object) -> None:
    violations = serious_violations(driver)  # type: ignore[arg-type]
    assert not violations, violations


def while_page_changes(condition: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`condition`, with a read of the old page's nodes while the new page replaces it counted as "not
    yet": Chromium reports such a node as stale, or as one that "does not belong to the document"."""

    def check(driver: Any) -> bool:
        try:
            return condition(driver)
        except WebDriverException as exc:
            if isinstance(exc, StaleElementReferenceException) or "does not belong to the document" in str(exc):
                return False
            raise

    return check


def shows(driver: object, text: str) -> None:
    """Wait for the page a form post leads to (the click returns before the new page may be there)."""
    WebDriverWait(driver, PAGE_WAIT).until(  # type: ignore[arg-type]
        while_page_changes(lambda d: text in d.find_element(By.TAG_NAME, "main").text)
    )


def shoot(driver: object, name: str) -> None:
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        screenshot(driver, f"{name}-{label}", size, SHOTS)  # type: ignore[arg-type]


async def _offers(stack: LocalStack, services: dict[str, ServiceProcess]) -> list[str]:
    """Two waitlisted patients offered a cancelled slot: the offers' links, best-ranked first."""
    config = loop_clinic(uid("page"), "America/Chicago")
    await known_everywhere(stack, services, config)
    starts = (datetime.now(ZoneInfo("America/Chicago")) + timedelta(days=4)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    patients = [uid("pat"), uid("pat")]
    async with services["scheduler"].client(timeout=30) as api:
        for rank, patient in enumerate(patients):
            joined = await api.post(
                "/v1/waitlist",
                json={
                    "clinic_id": config.clinic_id,
                    "patient_id": patient,
                    "appointment_type": "checkup",
                    "window_start": (starts - timedelta(days=1)).isoformat(),
                    "window_end": (starts + timedelta(days=1)).isoformat(),
                    "priority": 10 - rank,
                },
                headers={"Idempotency-Key": uid("k")},
            )
            assert joined.status_code == 201, joined.text
        booking = {
            "patient_id": uid("pat"),
            "clinic_id": config.clinic_id,
            "provider_id": f"{config.clinic_id}-dr-b",
            "appointment_type": "checkup",
            "starts_at": starts.isoformat(),
        }
        booked = (await api.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uid("k")})).json()
        await api.post(
            f"/v1/appointments/{booked['appointment_id']}/cancel", json={}, headers={"Idempotency-Key": uid("k")}
        )
    deadline = time.monotonic() + 60
    while True:
        rows = await query(
            stack.database_url("scheduler"),
            "SELECT o.offer_id, o.expires_at FROM waitlist_offers o JOIN waitlist w USING (waitlist_id)"
            " WHERE w.patient_id = ANY($1::text[]) ORDER BY w.priority DESC",
            patients,
        )
        if len(rows) == 2:
            break
        assert time.monotonic() < deadline, "no offers"
        await asyncio.sleep(0.2)
    # The links followup sends (signed with the local stack's key), on the scheduler's own port.
    base = services["scheduler"].url
    return [f"{base}/p/offer/{patient_links.sign('offer', r['offer_id'], r['expires_at'], KEY)}" for r in rows]


def test_a_waitlist_offer_booked_in_the_browser_and_taken_for_the_next(
    stack: LocalStack, services: dict[str, ServiceProcess], browser: object
) -> None:
    first, second = asyncio.run(_offers(stack, services))
    driver = browser
    driver.get(first)  # type: ignore[attr-defined]
    assert "Book this time" in driver.page_source and "9:30 AM" in driver.page_source  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "offer")
    driver.set_window_size(*PHONE)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form button").click()  # type: ignore[attr-defined]
    shows(driver, "You are booked")
    no_serious_violations(driver)
    shoot(driver, "offer-booked")

    driver.get(second)  # type: ignore[attr-defined]
    assert "this slot has been taken" in driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "offer-taken")

    driver.get(first[:-3] + ("xyz" if not first.endswith("xyz") else "abc"))  # type: ignore[attr-defined]
    assert "not valid" in driver.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    no_serious_violations(driver)
    shoot(driver, "link-not-valid")
    assert httpx.get(first, timeout=10).status_code == 200  # looking again shows the booking


async def _reschedule_link(stack: LocalStack, services: dict[str, ServiceProcess]) -> str:
    """A booked patient who replied "3": the link followup sends, on the scheduler's own port."""
    config = loop_clinic(uid("page"), "America/Chicago", hours="08:00-17:00")
    await known_everywhere(stack, services, config)
    starts = (datetime.now(ZoneInfo("America/Chicago")) + timedelta(days=5)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    booking = {
        "patient_id": uid("pat"),
        "clinic_id": config.clinic_id,
        "provider_id": f"{config.clinic_id}-dr-b",
        "appointment_type": "checkup",
        "starts_at": starts.isoformat(),
    }
    async with services["scheduler"].client(timeout=30) as api:
        booked = (await api.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uid("k")})).json()
    reply = AppointmentReplyReceived(
        appointment_id=booked["appointment_id"],
        patient_id=booked["patient_id"],
        clinic_id=config.clinic_id,
        provider_id=booked["provider_id"],
        reply="reschedule",
        received_at=datetime.now(UTC),
    )
    await send_events(stack.bootstrap, [reply])
    deadline = time.monotonic() + 60
    while True:
        rows = await query(
            stack.database_url("scheduler"),
            "SELECT reschedule_id, expires_at FROM reschedule_requests WHERE appointment_id = $1",
            booked["appointment_id"],
        )
        if rows:
            break
        assert time.monotonic() < deadline, "no reschedule request"
        await asyncio.sleep(0.2)
    token = patient_links.sign("reschedule", rows[0]["reschedule_id"], rows[0]["expires_at"], KEY)
    return f"{services['scheduler'].url}/p/reschedule/{token}"


def test_a_reschedule_chosen_in_the_browser(
    stack: LocalStack, services: dict[str, ServiceProcess], browser: object
) -> None:
    link = asyncio.run(_reschedule_link(stack, services))
    driver = browser
    driver.get(link)  # type: ignore[attr-defined]
    main = driver.find_element(By.TAG_NAME, "main")  # type: ignore[attr-defined]
    assert "Choose a new time" in main.text and "2:00 PM" in main.text
    no_serious_violations(driver)
    shoot(driver, "reschedule")
    driver.set_window_size(*PHONE)  # type: ignore[attr-defined]
    driver.find_elements(By.CSS_SELECTOR, "button.slot")[1].click()  # type: ignore[attr-defined]
    shows(driver, "has been moved")
    no_serious_violations(driver)
    shoot(driver, "reschedule-moved")
