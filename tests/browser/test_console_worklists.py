"""The console's worklists in a real headless Chromium against the real stack: a callback the
call-router asked for is returned and marked done, a recovery task a low rating opened is read and
closed with a note; both through the owning service's API under the staff member's own name, both
leaving the list when the owner's event arrives. axe-core on each page; screenshots into docs/console."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.common.contracts import CallbackRequested, ClinicConfig, FollowupEscalated, WaitlistOffered
from frontdesk.testing.helpers import query, uid
from frontdesk.testing.reviews import SITES, WAIT, zone_where
from frontdesk.testing.reviews import answered_low as _answered_low
from frontdesk.testing.scheduler import HL7_MEDIA, hl7_update
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .browser import DESKTOP, TABLET, screenshot
from .test_console import http_session, no_serious_violations, send, sign_in, wait_for

pytestmark = pytest.mark.integration

STAFF = "desk-ana"


@pytest.fixture(scope="module")
def clinic(stack: LocalStack, services: dict[str, ServiceProcess]) -> str:
    for proc in services.values():  # another module may have stopped one
        if not proc.process.running():
            proc.start()
    clinic_id = uid("console-wl")
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Riverside Dental",
            # inside reviews' send window and followup's quiet hours now, so the feedback request goes out
            "timezone": zone_where(range(9, 19)),
            "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"front_desk_pool": "wl-desk", "answering_service": "wl-vendor"},
            "reviews": {"review_sites": SITES},
        }
    )
    asyncio.run(publish(stack.bootstrap, [config]))
    deadline = time.monotonic() + WAIT
    while not all(clinic_id in services[s].known_clinics() for s in ("console", "followup", "reviews", "scheduler")):
        assert time.monotonic() < deadline, "a service never learned the test clinic"
        time.sleep(0.2)
    return clinic_id


def text_of(driver: object, css: str) -> str:
    """The element's text, read in one script: the live stream may swap the list at any moment, so an
    element found in one call may be stale by the next."""
    return str(driver.execute_script("return document.querySelector(arguments[0]).innerText", css))  # type: ignore[attr-defined]


def click(driver: object, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click()", css)  # type: ignore[attr-defined]


def gone(driver: object, css: str, timeout: float = WAIT) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, css)  # type: ignore[attr-defined]
    )


def test_complete_a_callback(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console = services["console"]
    now = datetime.now(UTC)
    older, newer = uid("cb"), uid("cb")
    send(
        stack,
        CallbackRequested(
            callback_id=newer, clinic_id=clinic, caller_token=uid("caller"), reason="vendor_message", requested_at=now
        ),
        CallbackRequested(
            callback_id=older,
            clinic_id=clinic,
            caller_token=uid("caller"),
            reason="abandoned_call",
            urgency="urgent",
            requested_at=now - timedelta(minutes=40),
        ),
        FollowupEscalated(
            task_id=uid("task"), clinic_id=clinic, reason="clinical_concern", urgency="urgent", escalated_at=now
        ),
        WaitlistOffered(
            offer_id=uid("offer"),
            waitlist_id=uid("wl"),
            patient_id=uid("pat"),
            clinic_id=clinic,
            provider_id="dr-lee",
            appointment_type="cleaning",
            starts_at=now + timedelta(hours=3),
            ends_at=now + timedelta(hours=3, minutes=30),
            expires_at=now + timedelta(minutes=12),
        ),
    )
    control_id = uid("MSG")
    with httpx.Client(base_url=services["scheduler"].url, timeout=30) as scheduler:
        token = {"authorization": f"Bearer {stack.api_token([clinic])}", "content-type": HL7_MEDIA}
        refused = scheduler.post(f"/v1/hl7/{clinic}", content=hl7_update(control_id), headers=token)
        assert "|AE|" in refused.text  # an update of an appointment the scheduler never saw: quarantined
    sign_in(browser, console, stack.api_token([clinic], subject=STAFF))
    wait_for(browser, "#live .live")  # signed in: landed on Now or Network
    browser.get(f"{console.url}/clinics/{clinic}/worklists")  # type: ignore[attr-defined]
    wait_for(browser, f'li[data-callback="{newer}"]', timeout=WAIT)
    wait_for(browser, f'tr[data-hl7="{control_id}"]', timeout=WAIT)  # the scheduler's hl7.quarantined, live
    wait_for(browser, "li[data-offer]", timeout=WAIT)
    order = browser.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('li[data-callback]')].map(li => li.dataset.callback)"
    )
    assert order.index(older) < order.index(newer), "oldest first"
    # the urgent one's 15 min target passed 25 min ago: overdue, said in words
    overdue = text_of(browser, f'li[data-callback="{older}"]')
    assert "overdue" in overdue and "deadline" in overdue
    no_serious_violations(browser)

    click(browser, f'li[data-callback="{older}"] button')
    wait_for(browser, "p.notice")
    gone(browser, f'li[data-callback="{older}"]')  # followup's callback.completed reached the read model
    assert browser.find_elements(By.CSS_SELECTOR, f'li[data-callback="{newer}"]')  # type: ignore[attr-defined]
    done = asyncio.run(
        query(
            stack.admin_database_url("followup"),
            "SELECT status, completed_by FROM callbacks WHERE callback_id = $1",
            older,
        )
    )
    assert [(r["status"], r["completed_by"]) for r in done] == [("done", STAFF)], "done under the staff member's name"


def test_close_a_recovery_task(
    browser: object, stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console = services["console"]
    [answered] = asyncio.run(_answered_low(stack, services, clinic, 1))
    sign_in(browser, console, stack.api_token([clinic], subject=STAFF))
    wait_for(browser, "#live .live")  # signed in: landed on Now or Network
    browser.get(f"{console.url}/clinics/{clinic}/worklists")  # type: ignore[attr-defined]
    task = f'li[data-recovery-task="{answered.task_id}"]'
    wait_for(browser, task, timeout=WAIT)
    assert "1 ★ of 5" in text_of(browser, task)
    no_serious_violations(browser)
    screenshot(browser, "worklists-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "worklists-tablet", TABLET)  # type: ignore[arg-type]
    click(browser, f"{task} a")
    wait_for(browser, "form.note-form")
    page = browser.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert "reviews serves it to you now" in page and "stores none of it" in page
    no_serious_violations(browser)
    screenshot(browser, "recovery-task-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "recovery-task-tablet", TABLET)  # type: ignore[arg-type]
    browser.find_element(By.ID, "note").send_keys("Called the patient, apologised, rebooked with Dr Lee.")  # type: ignore[attr-defined]
    browser.find_element(By.CSS_SELECTOR, "form.note-form button").click()  # type: ignore[attr-defined]
    wait_for(browser, "p.notice")
    gone(browser, task)  # reviews' review.recovery_closed reached the read model
    closed = asyncio.run(
        query(
            stack.admin_database_url("reviews"),
            "SELECT closed_by, closed_at FROM recovery_tasks WHERE recovery_task_id = $1",
            answered.task_id,
        )
    )
    assert closed[0]["closed_by"] == STAFF and closed[0]["closed_at"] is not None


def test_actions_are_refused_without_the_clinic_or_the_form(
    stack: LocalStack, services: dict[str, ServiceProcess], clinic: str
) -> None:
    console = services["console"]
    callback_id = uid("cb")
    with http_session(console, stack.api_token(["some-other-clinic"], subject="intruder")) as client:
        csrf = client.get("/network").text.split('name="csrf" value="')[1].split('"')[0]
        refused = client.post(f"/clinics/{clinic}/callbacks/{callback_id}/complete", data={"csrf": csrf})
        assert refused.status_code == 403
        assert client.get(f"/clinics/{clinic}/worklists").status_code == 403
        assert client.get(f"/clinics/{clinic}/worklists/live").status_code == 403
    with http_session(console, stack.api_token([clinic], subject=STAFF)) as client:
        forged = client.post(f"/clinics/{clinic}/callbacks/{callback_id}/complete", data={"csrf": "guessed"})
        assert forged.status_code == 403
        csrf = client.get(f"/clinics/{clinic}/worklists").text.split('name="csrf" value="')[1].split('"')[0]
        unknown = client.post(f"/clinics/{clinic}/callbacks/{callback_id}/complete", data={"csrf": csrf})
        assert unknown.status_code == 404 and "followup refused" in unknown.text  # the owner's answer, passed on
        empty = client.post(f"/clinics/{clinic}/recovery-tasks/rt-x/close", data={"csrf": csrf, "note": " "})
        assert empty.status_code == 422
    with http_session(console, stack.api_token([clinic], scopes=("read",), subject="viewer")) as client:
        csrf = client.get(f"/clinics/{clinic}/worklists").text.split('name="csrf" value="')[1].split('"')[0]
        read_only = client.post(f"/clinics/{clinic}/callbacks/{callback_id}/complete", data={"csrf": csrf})
        assert read_only.status_code == 403  # followup wants the write scope: a read-only sign-in cannot act
