"""A "3" reply nobody acted on, as staff see it: the scheduler's appointment.reschedule_task on the
console's worklist with its deadline, in a real headless Chromium against the real stack; only for
the clinic's staff; gone once staff move the appointment (the scheduler's appointment.rescheduled).
axe-core on the page; screenshots at desktop and phone width into docs/console."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from frontdesk.common.contracts import RescheduleTaskOpened
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from ..integration.test_patient_loops import WAIT, _booked_patient, _reply_three
from .browser import DESKTOP, PHONE, screenshot
from .test_console import http_session, no_serious_violations, send, sign_in, wait_for, wait_until_known
from .test_console_worklists import gone, text_of

pytestmark = pytest.mark.integration


def _window_passes(stack: LocalStack, appointment_id: str) -> str:
    """The patient's window passes untouched (the test moves the durable timer, not the clock)."""
    deadline = time.monotonic() + WAIT
    while not (
        rows := asyncio.run(
            query(
                stack.database_url("scheduler"),
                "SELECT reschedule_id FROM reschedule_requests WHERE appointment_id = $1",
                appointment_id,
            )
        )
    ):
        assert time.monotonic() < deadline, "the scheduler never opened the request"
        time.sleep(0.3)
    reschedule_id = str(rows[0]["reschedule_id"])
    asyncio.run(
        query(
            stack.database_url("scheduler"),
            "UPDATE timers SET due_at = now() WHERE kind = 'reschedule_window' AND payload->>'reschedule_id' = $1",
            reschedule_id,
        )
    )
    return reschedule_id


def test_a_reschedule_task_on_the_worklist_until_staff_move_the_appointment(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess]
) -> None:
    console, scheduler = services["console"], services["scheduler"]
    for proc in services.values():  # another module may have stopped one
        if not proc.process.running():
            proc.start()
    config, appointment, _ = asyncio.run(_booked_patient(stack, services, reschedule_staff_hours=2))
    clinic = config.clinic_id
    wait_until_known(console, clinic)
    # A second task, overdue: one the scheduler opened earlier for another appointment.
    now = datetime.now(UTC)
    overdue = RescheduleTaskOpened(
        reschedule_id=uid("rs"),
        appointment_id=uid("appt"),
        patient_id=uid("pat"),
        clinic_id=clinic,
        provider_id=appointment["provider_id"],
        starts_at=now + timedelta(days=1, hours=2),
        opened_at=now - timedelta(hours=3),
        due_at=now - timedelta(minutes=20),
    )
    send(stack, overdue)
    asyncio.run(_reply_three(stack, appointment))
    reschedule_id = _window_passes(stack, appointment["appointment_id"])

    sign_in(browser, console, stack.api_token([clinic], subject="desk-ana"))
    wait_for(browser, "#live .live")
    browser.get(f"{console.url}/clinics/{clinic}/worklists")  # type: ignore[attr-defined]
    task = f'li[data-reschedule-task="{reschedule_id}"]'
    wait_for(browser, task, timeout=WAIT)  # the scheduler's event, live
    wait_for(browser, f'li[data-reschedule-task="{overdue.reschedule_id}"]', timeout=WAIT)
    shown = text_of(browser, task)
    assert appointment["appointment_id"] in shown and "checkup" in shown and "on time" in shown
    assert appointment["patient_id"] not in shown  # the console holds no patient
    assert "⚠ overdue" in text_of(browser, f'li[data-reschedule-task="{overdue.reschedule_id}"]')
    order = browser.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('li[data-reschedule-task]')].map(li => li.dataset.rescheduleTask)"
    )
    assert order == [overdue.reschedule_id, reschedule_id], "by deadline"
    no_serious_violations(browser)
    screenshot(browser, "worklists-reschedule-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "worklists-reschedule-phone", PHONE)  # type: ignore[arg-type]
    browser.set_window_size(*PHONE)  # type: ignore[attr-defined]
    no_serious_violations(browser)
    browser.set_window_size(*DESKTOP)  # type: ignore[attr-defined]

    # Staff of another clinic see neither the page nor its stream.
    with http_session(console, stack.api_token(["some-other-clinic"], subject="intruder")) as other:
        assert other.get(f"/clinics/{clinic}/worklists").status_code == 403
        assert other.get(f"/clinics/{clinic}/worklists/live").status_code == 403

    # Staff move the appointment through the scheduler: the task leaves the list when its event arrives.
    moved_to = datetime.fromisoformat(appointment["starts_at"]) + timedelta(days=1)
    with httpx.Client(base_url=scheduler.url, timeout=30) as api:
        moved = api.post(
            f"/v1/appointments/{appointment['appointment_id']}/reschedule",
            json={"starts_at": moved_to.isoformat()},
            headers={"Authorization": f"Bearer {stack.api_token([clinic])}", "Idempotency-Key": uid("k")},
        )
        assert moved.status_code == 200, moved.text
    gone(browser, task)
    assert browser.find_elements("css selector", f'li[data-reschedule-task="{overdue.reschedule_id}"]')  # type: ignore[attr-defined]
