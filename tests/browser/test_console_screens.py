"""The console's read-only clinic screens in a real headless Chromium against the real stack: Today's
schedule per provider and Trends, live from the events; axe-core on each at desktop and tablet width;
screenshots into docs/console."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By

from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentNoShow,
    ClinicConfig,
    Event,
    VisitCompleted,
)
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from ..integration.helpers import uid
from ..integration.test_reviews_flow import WAIT, zone_where
from .browser import DESKTOP, TABLET, chromium, screenshot
from .test_console import no_serious_violations, send, sign_in, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clinic(stack: LocalStack, services: dict[str, ServiceProcess]) -> str:
    clinic_id = uid("console-sc")
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Harbour Pediatrics",
            "timezone": zone_where(range(6, 20)),  # the day's appointments, 3 h either side, are all today
            "phone": {"front_desk_pool": "sc-desk", "answering_service": "sc-vendor"},
        }
    )
    asyncio.run(publish(stack.bootstrap, [config]))
    deadline = time.monotonic() + WAIT
    while clinic_id not in services["console"].known_clinics():
        assert time.monotonic() < deadline, "the console never learned the test clinic"
        time.sleep(0.2)
    return clinic_id


@pytest.fixture
def browser() -> Iterator[object]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def booked(clinic: str, provider: str, start: datetime, kind: str = "checkup") -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id=uid("appt"),
        request_id=uid("req"),
        patient_id=uid("pat"),
        clinic_id=clinic,
        provider_id=provider,
        appointment_type=kind,
        starts_at=start,
        ends_at=start + timedelta(minutes=20),
    )


def day_of_appointments(clinic: str, now: datetime) -> tuple[list[Event], dict[str, str]]:
    """Two providers' day: each booked; then checked in, completed, no-show, cancelled or left booked."""
    events: list[Event] = []
    expected: dict[str, str] = {}
    plan = [
        ("dr-okafor", -150, "completed"),
        ("dr-okafor", -90, "no_show"),
        ("dr-okafor", -20, "checked_in"),
        ("dr-okafor", 40, "booked"),
        ("dr-okafor", 100, "cancelled"),
        ("dr-nguyen", -120, "completed"),
        ("dr-nguyen", -60, "completed"),
        ("dr-nguyen", -5, "booked"),  # its start passed: "not checked in"
        ("dr-nguyen", 60, "booked"),
    ]
    for provider, minutes, outcome in plan:
        b = booked(clinic, provider, now + timedelta(minutes=minutes), "vaccination" if minutes > 0 else "checkup")
        events.append(b)
        expected[b.appointment_id] = outcome
        fact = {"appointment_id": b.appointment_id, "patient_id": b.patient_id, "clinic_id": clinic}
        fact["provider_id"] = provider
        if outcome in ("checked_in", "completed"):
            events.append(AppointmentCheckedIn(**fact, checked_in_at=b.starts_at - timedelta(minutes=5)))
        if outcome == "completed":
            events.append(VisitCompleted(**fact, visit_id=uid("visit"), completed_at=b.ends_at))
        if outcome == "no_show":
            events.append(AppointmentNoShow(**fact, starts_at=b.starts_at))
        if outcome == "cancelled":
            events.append(AppointmentCancelled(**fact, starts_at=b.starts_at, cancelled_at=now, late=True))
    return events, expected


def test_todays_schedule_per_provider(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console = services["console"]
    events, expected = day_of_appointments(clinic, datetime.now(UTC))
    sign_in(browser, console, stack.api_token([clinic], scopes=("read",), subject="practice-manager"))
    browser.get(f"{console.url}/clinics/{clinic}/schedule")  # type: ignore[attr-defined]
    wait_for(browser, "#live[data-stream=open]")
    send(stack, *events)
    last = next(reversed(expected))
    wait_for(browser, f'tr[data-appointment="{last}"]', timeout=WAIT)  # arrives live, no reload
    deadline = time.monotonic() + WAIT
    script = (
        "return Object.fromEntries([...document.querySelectorAll('tr[data-appointment]')]"
        ".map(r => [r.dataset.appointment, r.dataset.status]))"
    )
    while (shown := browser.execute_script(script)) != expected:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, (shown, expected)
        time.sleep(0.2)
    text = browser.find_element(By.ID, "live").text  # type: ignore[attr-defined]
    assert "dr-okafor" in text and "dr-nguyen" in text and "not checked in" in text
    assert "Holds are not shown" in text
    no_serious_violations(browser)
    screenshot(browser, "schedule-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "schedule-tablet", TABLET)  # type: ignore[arg-type]
