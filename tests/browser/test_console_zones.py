"""A clinic whose providers keep other zones, in a real headless Chromium against the real stack: a New
York clinic's Kathmandu location. Its appointments read in Kathmandu time, the zone named beside them,
on Today's schedule (that provider's own today) and the worklists; axe-core; screenshots into docs/console."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from frontdesk.common.contracts import AppointmentBooked, ClinicConfig, WaitlistOffered
from frontdesk.testing.helpers import uid
from frontdesk.testing.reviews import WAIT
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .browser import DESKTOP, TABLET, screenshot
from .test_console import no_serious_violations, send, sign_in, wait_for, wait_until_known

pytestmark = pytest.mark.integration
TO = "\N{EN DASH}"  # between a start and an end
NEW_YORK, KATHMANDU = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kathmandu")


@pytest.fixture(scope="module")
def clinic(stack: LocalStack, services: dict[str, ServiceProcess]) -> str:
    clinic_id = uid("console-zones")
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Two Cities Health",
            "timezone": "America/New_York",
            "phone": {"front_desk_pool": "zones-desk", "answering_service": "zones-vendor"},
            "providers": [{"provider_id": "dr-hudson"}, {"provider_id": "dr-thapa", "location_id": "ktm"}],
            "scheduling": {"locations": [{"location_id": "ktm", "timezone": "Asia/Kathmandu"}]},
        }
    )
    asyncio.run(publish(stack.bootstrap, [config]))
    wait_until_known(services["console"], clinic_id)
    return clinic_id


def at(zone: ZoneInfo, hour: int, minute: int = 0) -> datetime:
    """Today `hour`:`minute` in `zone` (its own today), as an instant."""
    return datetime.combine(datetime.now(zone).date(), datetime.min.time(), zone).replace(hour=hour, minute=minute)


def booked(clinic: str, provider: str, start: datetime) -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id=uid("appt"),
        request_id=uid("req"),
        patient_id=uid("pat"),
        clinic_id=clinic,
        provider_id=provider,
        appointment_type="checkup",
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
    )


def row_text(browser: object, css: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, css).text)  # type: ignore[attr-defined]


def test_appointments_read_in_the_zone_they_are_kept_in(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console = services["console"]
    # Kathmandu's 09:00 and 16:00 today (one of them is another day in New York), New York's 10:00.
    morning, afternoon = booked(clinic, "dr-thapa", at(KATHMANDU, 9)), booked(clinic, "dr-thapa", at(KATHMANDU, 16))
    local = booked(clinic, "dr-hudson", at(NEW_YORK, 10))
    slot = at(KATHMANDU, 11, 15) + timedelta(days=1)
    offer = WaitlistOffered(
        offer_id=uid("offer"),
        waitlist_id=uid("wl"),
        patient_id=uid("pat"),
        clinic_id=clinic,
        provider_id="dr-thapa",
        appointment_type="checkup",
        starts_at=slot,
        ends_at=slot + timedelta(minutes=30),
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    sign_in(browser, console, stack.api_token([clinic], scopes=("read",), subject="practice-manager"))
    wait_for(browser, "#live .live")
    browser.get(f"{console.url}/clinics/{clinic}/schedule")  # type: ignore[attr-defined]
    wait_for(browser, "#live[data-stream=open]")
    send(stack, morning, afternoon, local, offer)
    for appointment in (morning, afternoon, local):
        wait_for(browser, f'tr[data-appointment="{appointment.appointment_id}"]', timeout=WAIT)
    assert row_text(browser, f'tr[data-appointment="{morning.appointment_id}"]').startswith(
        f"09:00{TO}09:30 Asia/Kathmandu +0545"
    )
    assert row_text(browser, f'tr[data-appointment="{afternoon.appointment_id}"]').startswith(
        f"16:00{TO}16:30 Asia/Kathmandu +0545"
    )
    here = row_text(browser, f'tr[data-appointment="{local.appointment_id}"]')
    assert here.startswith(f"10:00{TO}10:30") and "America/New_York" not in here  # the clinic's zone: not named
    text = browser.find_element(By.ID, "live").text  # type: ignore[attr-defined]
    assert f"Times in Asia/Kathmandu, where it is {datetime.now(KATHMANDU):%A %d %B}." in text
    no_serious_violations(browser)
    screenshot(browser, "schedule-zones-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "schedule-zones-tablet", TABLET)  # type: ignore[arg-type]
    browser.get(f"{console.url}/clinics/{clinic}/worklists")  # type: ignore[attr-defined]
    wait_for(browser, f'[data-offer="{offer.offer_id}"]', timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while "Asia/Kathmandu" not in row_text(browser, f'[data-offer="{offer.offer_id}"]'):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    shown = row_text(browser, f'[data-offer="{offer.offer_id}"]')
    assert f"{slot.astimezone(KATHMANDU):%a %d %b} 11:15{TO}11:45 Asia/Kathmandu +0545" in shown, shown
    no_serious_violations(browser)
