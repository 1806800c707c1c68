"""The console's read-only clinic screens in a real headless Chromium against the real stack: Today's
schedule per provider and Trends, live from the events; axe-core on each at desktop and tablet width;
screenshots into docs/console."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentHeld,
    AppointmentNoShow,
    CallAnswered,
    CallEnded,
    CallReceived,
    ClinicConfig,
    Event,
    ProviderReputation,
    ReputationFigures,
    ReputationSummary,
    StaffingForecast,
    StaffingHour,
    VisitCompleted,
)
from frontdesk.testing.helpers import uid
from frontdesk.testing.reviews import WAIT, zone_where
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .browser import DESKTOP, TABLET, screenshot
from .test_console import no_serious_violations, send, sign_in, wait_for, wait_until_known

pytestmark = pytest.mark.integration
ZONES: dict[str, ZoneInfo] = {}  # each test clinic's zone


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
    ZONES[clinic_id] = ZoneInfo(config.timezone)
    asyncio.run(publish(stack.bootstrap, [config]))
    wait_until_known(services["console"], clinic_id)
    return clinic_id


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


def held(clinic: str, provider: str, start: datetime, expires_at: datetime) -> AppointmentHeld:
    return AppointmentHeld(
        appointment_id=uid("appt"),
        clinic_id=clinic,
        provider_id=provider,
        appointment_type="new_patient",
        starts_at=start,
        ends_at=start + timedelta(minutes=40),
        held_at=expires_at - timedelta(minutes=10),
        expires_at=expires_at,
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
    now = datetime.now(UTC)
    events, expected = day_of_appointments(clinic, now)
    holds = [
        held(clinic, provider, now + timedelta(hours=hours), now + timedelta(minutes=minutes))
        for provider, hours, minutes in (("dr-okafor", 3, 9), ("dr-nguyen", 4, 4), ("dr-nguyen", 2, 6))
    ]
    confirmed = holds[2]  # booked meanwhile: no longer a hold
    update = {"appointment_id": confirmed.appointment_id, "ends_at": confirmed.ends_at}
    events += [*holds, booked(clinic, "dr-nguyen", confirmed.starts_at, "new_patient").model_copy(update=update)]
    expected[confirmed.appointment_id] = "booked"  # on the schedule now, no longer among the holds
    sign_in(browser, console, stack.api_token([clinic], scopes=("read",), subject="practice-manager"))
    wait_for(browser, "#live .live")  # signed in: landed on Now or Network
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
    shown_holds = browser.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('tr[data-hold]')].map(r => r.dataset.hold)"
    )
    assert shown_holds == [holds[1].appointment_id, holds[0].appointment_id], "soonest to lapse first, confirmed gone"
    no_serious_violations(browser)
    screenshot(browser, "schedule-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "schedule-tablet", TABLET)  # type: ignore[arg-type]


def weeks_of_calls(clinic: str, now: datetime) -> list[Event]:
    """Two weeks of weekday calls, one an hour from 8 to 17 clinic time, answered after 4 to 40 s."""
    events: list[Event] = []
    for n in range(1, 15):
        day = (now - timedelta(days=n)).astimezone(ZONES[clinic]).replace(minute=10, second=0, microsecond=0)
        if day.weekday() >= 5:
            continue
        for hour in range(8, 18):
            at, call_id = day.replace(hour=hour), uid("call")
            answered = at + timedelta(seconds=4 + (hour * 7 + n * 3) % 37)
            events += [
                CallReceived(call_id=call_id, clinic_id=clinic, received_at=at, caller_token=uid("caller")),
                CallAnswered(
                    call_id=call_id,
                    clinic_id=clinic,
                    answered_at=answered,
                    answered_by_kind="receptionist",
                    answered_by_id="rcp-1",
                ),
                CallEnded(call_id=call_id, clinic_id=clinic, ended_at=answered + timedelta(minutes=3)),
            ]
    return events


def forecast(clinic: str, now: datetime) -> StaffingForecast:
    hours = [
        StaffingHour(
            weekday=d,
            hour=h,
            arrivals_per_hour=0.6 + 0.1 * (h % 4),
            aht_seconds=180,
            agents=1 + h % 2,
            scheduled=2,
            service_level=0.86 + 0.02 * (h % 4),
        )
        for d in range(5)
        for h in range(8, 18)
    ]
    return StaffingForecast(
        forecast_id=uid("fc"),
        clinic_id=clinic,
        generated_at=now,
        weeks=4,
        target_service_level=0.9,
        target_seconds=30,
        shrinkage=0.3,
        hours=hours,
    )


def reputation(clinic: str, now: datetime) -> list[Event]:
    summaries: list[Event] = []
    for n in range(6):
        # ISO weeks of the clinic's own calendar, as the console counts them (its date may not be UTC's)
        year, week, _ = (now.astimezone(ZONES[clinic]) - timedelta(weeks=n)).isocalendar()

        def figures(sent: int, answered: int, stars: float, nps: float) -> dict[str, object]:
            return {
                "requests_sent": sent,
                "responses": answered,
                "response_rate": answered / sent,
                "average_rating": stars,
                "nps": nps,
                "escalations": 1,
            }

        summaries.append(
            ReputationSummary(
                clinic_id=clinic,
                week=f"{year}-W{week:02d}",
                clinic=ReputationFigures(**figures(40, 14 + n, 4.1 + 0.1 * (n % 3), 35 - 6 * n)),
                providers=[
                    ProviderReputation(provider_id="dr-okafor", **figures(22, 9, 4.4, 48 - 5 * n)),
                    ProviderReputation(provider_id="dr-nguyen", **figures(18, 5 + n % 2, 3.9, 20 - 7 * n)),
                ],
                computed_at=now,
            )
        )
    return summaries


def past_appointments(clinic: str, now: datetime) -> list[Event]:
    """Six past weeks of appointments, a no-show in some."""
    events: list[Event] = []
    for week in range(1, 7):
        for i in range(5):
            b = booked(clinic, "dr-okafor", now - timedelta(weeks=week, hours=i * 5))
            fact = {"appointment_id": b.appointment_id, "patient_id": b.patient_id, "clinic_id": clinic}
            missed = i < week % 3
            outcome: Event = (
                AppointmentNoShow(**fact, provider_id="dr-okafor", starts_at=b.starts_at)
                if missed
                else AppointmentCheckedIn(**fact, provider_id="dr-okafor", checked_in_at=b.starts_at)
            )
            events += [b, outcome]
    return events


def test_trends_against_the_forecast(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console, now = services["console"], datetime.now(UTC)
    send(stack, *weeks_of_calls(clinic, now), forecast(clinic, now), *reputation(clinic, now))
    send(stack, *past_appointments(clinic, now))
    sign_in(browser, console, stack.api_token([clinic], scopes=("read",), subject="practice-manager"))
    wait_for(browser, "#live .live")  # signed in: landed on Now or Network
    browser.get(f"{console.url}/clinics/{clinic}/trends")  # type: ignore[attr-defined]
    deadline = time.monotonic() + WAIT
    while True:
        text = browser.find_element(By.ID, "live").text  # type: ignore[attr-defined]
        if "Erlang C staffing forecast" in text and "dr-nguyen" in text and text.count("no data") <= 6:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
        browser.refresh()  # type: ignore[attr-defined]
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart[role=img]")  # type: ignore[attr-defined]
    assert len(charts) == 6
    bars = browser.find_elements(By.CSS_SELECTOR, "#live svg.chart rect")  # type: ignore[attr-defined]
    assert len(bars) >= 50  # calls and service level drawn per hour
    no_serious_violations(browser)
    screenshot(browser, "trends-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "trends-tablet", TABLET)  # type: ignore[arg-type]


def test_network_heat_map_of_service_level_by_hour(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console, now = services["console"], datetime.now(UTC)
    events: list[Event] = []
    for hours_ago, waits in ((3, (5, 8, 9)), (2, (6, 70, 80)), (1, (4, 5, 25))):  # the clinic's hour is 6-19
        for wait in waits:
            at, call_id = now - timedelta(hours=hours_ago), uid("call")
            events += [
                CallReceived(call_id=call_id, clinic_id=clinic, received_at=at, caller_token=uid("caller")),
                CallAnswered(
                    call_id=call_id,
                    clinic_id=clinic,
                    answered_at=at + timedelta(seconds=wait),
                    answered_by_kind="receptionist",
                    answered_by_id="rcp-1",
                ),
            ]
    send(stack, *events)
    sign_in(browser, console, stack.api_token(None, scopes=("read",), subject="network-ops"))
    wait_for(browser, "#live .live")  # signed in: landed on Now or Network
    wait_for(browser, "table.heat")
    local = now.astimezone(ZONES[clinic]).hour
    expected = {local - 3: "100", local - 2: "33▼", local - 1: "67▼"}  # ring budget 18 s
    script = (
        "return [...document.querySelectorAll(`tr[data-heat='${arguments[0]}'] td`)].map(td => td.textContent.trim())"
    )
    deadline = time.monotonic() + WAIT
    while {h: (cells := browser.execute_script(script, clinic) or [""] * 24)[h] for h in expected} != expected:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, cells
        time.sleep(0.5)
    assert all(c == "" for c in cells[local + 1 :]), "hours to come are empty"
    no_serious_violations(browser)
    screenshot(browser, "network-heatmap-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "network-heatmap-tablet", TABLET)  # type: ignore[arg-type]
