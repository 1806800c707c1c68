"""The console in a real headless Chromium against the real stack: sign in, watch a call arrive and be
answered on Now without a reload (server-sent events), the Network table per token, 403 for another
clinic, expired and tampered sessions; axe-core on every screen; screenshots into docs/console."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.common.contracts import AgentStatusChanged, CallAnswered, CallReceived, ClinicConfig, Event
from frontdesk.console.domain.session import decode_session, encode_session, new_session
from frontdesk.console.settings import LOCAL_DEV_KEY
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .browser import DESKTOP, PAGE_WAIT, TABLET, screenshot, serious_violations

pytestmark = pytest.mark.integration

CLINIC_A, CLINIC_B = "console-test-a", "console-test-b"
FORM = {"content-type": "application/x-www-form-urlencoded"}
CLINICS = [
    ClinicConfig.model_validate(
        {
            "clinic_id": CLINIC_A,
            "name": "Lakeside Family Practice",
            "timezone": "America/Chicago",
            "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {
                "answering_service": "console-test-vendor",
                "rings": 10,  # a 60 s budget: the desk's 30 s offer rings out before the vendor's turn
                "receptionists": [{"receptionist_id": "rcp-1"}, {"receptionist_id": "rcp-2"}],
                "pools": [{"pool_id": "desk", "members": ["rcp-1", "rcp-2"], "offer_timeout_seconds": 30}],
            },
        }
    ),
    ClinicConfig.model_validate(
        {
            "clinic_id": CLINIC_B,
            "name": "Himalaya Health Kathmandu",
            "timezone": "Asia/Kathmandu",  # UTC+05:45: the day's bounds are the clinic's own
            "phone": {"front_desk_pool": "desk-b", "answering_service": "console-test-vendor-b"},
        }
    ),
]


@pytest.fixture(scope="module")
def console(stack: LocalStack, services: dict[str, ServiceProcess]) -> ServiceProcess:
    asyncio.run(publish(stack.bootstrap, CLINICS))
    proc = services["console"]
    wait_until_known(proc, CLINIC_A, CLINIC_B)
    return proc


def wait_until_known(console: ServiceProcess, *clinic_ids: str, timeout: float = 90) -> None:
    """Wait until the console has projected the clinics: before, their pages say "Unknown clinic"
    (no live region to wait for), and a page is not reloaded by itself."""
    deadline = time.monotonic() + timeout
    while not set(clinic_ids) <= console.known_clinics():
        assert time.monotonic() < deadline, f"the console never learned {clinic_ids}"
        time.sleep(0.2)


def send(stack: LocalStack, *events: Event) -> None:
    asyncio.run(send_events(stack.bootstrap, list(events)))


def sign_in(driver: object, console: ServiceProcess, token: str) -> None:
    driver.get(console.url + "/sign-in")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "token").send_keys(token)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form.sign-in button").click()  # type: ignore[attr-defined]


def no_serious_violations(driver: object) -> None:
    violations = serious_violations(driver)  # type: ignore[arg-type]
    assert not violations, violations


def wait_for(driver: object, css: str, timeout: float = PAGE_WAIT) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, css),  # type: ignore[attr-defined]
        f"{css} never appeared on {driver.current_url}",  # type: ignore[attr-defined]
    )


def clinic_rows(driver: object) -> list[str]:
    """The clinics of the table, read in one script: the live stream may swap the rows at any moment,
    so elements found in one call may be stale by the next."""
    script = "return [...document.querySelectorAll('tr[data-clinic]')].map(r => r.dataset.clinic)"
    return list(driver.execute_script(script))  # type: ignore[attr-defined]


def test_sign_in_page_is_accessible(browser: object, console: ServiceProcess) -> None:
    browser.get(console.url + "/sign-in")  # type: ignore[attr-defined]
    no_serious_violations(browser)
    screenshot(browser, "sign-in-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "sign-in-tablet", TABLET)  # type: ignore[arg-type]


def test_a_call_arrives_and_is_answered_live(browser: object, stack: LocalStack, console: ServiceProcess) -> None:
    sign_in(browser, console, stack.api_token([CLINIC_A], scopes=("read",), subject="receptionist-lead"))
    wait_for(browser, "#live .live")
    assert browser.current_url.endswith(f"/clinics/{CLINIC_A}/now")  # type: ignore[attr-defined]
    browser.execute_script("window.notReloaded = true")  # type: ignore[attr-defined]
    wait_for(browser, "#live[data-stream=open]")

    call_id, now = uid("call"), datetime.now(UTC)
    send(
        stack,
        AgentStatusChanged(clinic_id=CLINIC_A, receptionist_id="rcp-1", status="available", changed_at=now),
        AgentStatusChanged(clinic_id=CLINIC_A, receptionist_id="rcp-2", status="paused", changed_at=now),
        CallReceived(call_id=call_id, clinic_id=CLINIC_A, received_at=now, caller_token=uid("caller")),
    )
    sent = time.monotonic()
    wait_for(browser, f'#live tr[data-call="{call_id}"]')
    print(f"call shown {time.monotonic() - sent:.2f} s after its event was acknowledged")
    screenshot(browser, "now-desktop", DESKTOP)  # type: ignore[arg-type]

    send(
        stack,
        CallAnswered(
            call_id=call_id,
            clinic_id=CLINIC_A,
            answered_at=now + timedelta(seconds=4),
            answered_by_kind="receptionist",
            answered_by_id="rcp-1",
        ),
    )
    sent = time.monotonic()
    wait_for(browser, f'#live tr[data-call="{call_id}"][data-state="answered"]')
    print(f"answer shown {time.monotonic() - sent:.2f} s after its event was acknowledged")
    assert browser.execute_script("return window.notReloaded === true")  # type: ignore[attr-defined]
    text = browser.find_element(By.ID, "live").text  # type: ignore[attr-defined]
    assert "receptionist rcp-1" in text and "Last event received at" in text
    no_serious_violations(browser)
    screenshot(browser, "now-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "now-tablet", TABLET)  # type: ignore[arg-type]


def test_network_table_for_a_network_token(browser: object, stack: LocalStack, console: ServiceProcess) -> None:
    sign_in(browser, console, stack.api_token(None, scopes=("read",), subject="network-ops"))
    wait_for(browser, "table.network")
    assert browser.current_url.endswith("/network")  # type: ignore[attr-defined]
    browser.execute_script("window.notReloaded = true")  # type: ignore[attr-defined]
    wait_for(browser, "#live[data-stream=open]")
    # clinic B answers late today: below target, marked so in words, not only colour, without a reload
    start = datetime.now(UTC) - timedelta(minutes=2)
    late = uid("call")
    send(
        stack,
        CallReceived(call_id=late, clinic_id=CLINIC_B, received_at=start, caller_token=uid("caller")),
        CallAnswered(
            call_id=late,
            clinic_id=CLINIC_B,
            answered_at=start + timedelta(seconds=70),
            answered_by_kind="receptionist",
            answered_by_id="rcp-b",
        ),
    )
    wait_for(browser, f'table.network tr[data-clinic="{CLINIC_B}"].below')
    assert browser.execute_script("return window.notReloaded === true")  # type: ignore[attr-defined]
    rows = clinic_rows(browser)
    assert {CLINIC_A, CLINIC_B} <= set(rows)
    flagged = browser.execute_script(  # type: ignore[attr-defined]
        "return document.querySelector(arguments[0]).innerText", f'tr[data-clinic="{CLINIC_B}"]'
    )
    assert "below target" in flagged
    browser.find_element(By.LINK_TEXT, "Clinic").click()  # type: ignore[attr-defined]
    WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.1).until(lambda d: "sort=clinic" in d.current_url)  # type: ignore[attr-defined]
    wait_for(browser, "table.network")
    rows = clinic_rows(browser)
    assert rows == sorted(rows)
    no_serious_violations(browser)
    browser.get(console.url + "/network?sort=service_level&order=asc")  # type: ignore[attr-defined]
    screenshot(browser, "network-desktop", DESKTOP)  # type: ignore[arg-type]
    screenshot(browser, "network-tablet", TABLET)  # type: ignore[arg-type]


def test_a_clinic_token_sees_only_its_clinic(browser: object, stack: LocalStack, console: ServiceProcess) -> None:
    sign_in(browser, console, stack.api_token([CLINIC_A], scopes=("read",)))
    wait_for(browser, "#live .live")
    browser.get(console.url + "/network")  # type: ignore[attr-defined]
    rows = clinic_rows(browser)
    assert rows == [CLINIC_A]
    browser.get(console.url + f"/clinics/{CLINIC_B}/now")  # type: ignore[attr-defined]
    assert "Not your clinic" in browser.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]
    no_serious_violations(browser)


# --- the same rules over plain HTTP (status codes, cookies, no JavaScript) ------------------------


@contextmanager
def http_session(console: ServiceProcess, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        client.get("/sign-in")
        csrf = client.cookies["console_sign_in"]
        response = client.post("/sign-in", data={"token": token, "csrf": csrf})
        assert response.status_code == 303, response.text
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        yield client


def test_pages_answer_403_for_another_clinic_and_render_without_javascript(
    stack: LocalStack, console: ServiceProcess
) -> None:
    with http_session(console, stack.api_token([CLINIC_A], scopes=("read",), subject="console-auditor")) as client:
        assert client.get(f"/clinics/{CLINIC_B}/now").status_code == 403
        assert client.get(f"/clinics/{CLINIC_B}/now/live").status_code == 403
        # the answer arrives before the call itself (other topic): the page still ends with an answered call
        call_id, at = uid("call"), datetime.now(UTC)
        send(
            stack,
            CallAnswered(
                call_id=call_id,
                clinic_id=CLINIC_A,
                answered_at=at + timedelta(seconds=3),
                answered_by_kind="receptionist",
                answered_by_id="rcp-2",
            ),
            CallReceived(call_id=call_id, clinic_id=CLINIC_A, received_at=at, caller_token=uid("caller")),
        )
        deadline = time.monotonic() + 20
        while (
            f'data-call="{call_id}" data-state="answered"' not in (page := client.get(f"/clinics/{CLINIC_A}/now")).text
        ):
            assert time.monotonic() < deadline, "the call never showed as answered"
            time.sleep(0.2)
        assert page.status_code == 200 and "Last event received at" in page.text
        assert client.get("/network?sort=name").status_code == 422  # an unknown column is named, not a 500
    audited = asyncio.run(
        query(
            stack.admin_database_url("console"),
            "SELECT status FROM audit.log WHERE subject = $1 AND route = '/clinics/{clinic_id}/now' AND clinic_id = $2",
            "console-auditor",
            CLINIC_B,
        )
    )
    assert [r["status"] for r in audited] == [403], "the refusal is in the audit trail, under the staff member's name"


def test_sign_in_refuses_bad_tokens_and_forged_forms(stack: LocalStack, console: ServiceProcess) -> None:
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        client.get("/sign-in")
        csrf = client.cookies["console_sign_in"]
        refused = client.post("/sign-in", data={"token": "not-a-token", "csrf": csrf})
        assert refused.status_code == 401 and "not a JWT" in refused.text
        forged = client.post("/sign-in", data={"token": stack.api_token([CLINIC_A]), "csrf": "guessed"})
        assert forged.status_code == 403 and "console_session" not in forged.headers.get("set-cookie", "")
        crowded = client.post("/sign-in", content="&".join(f"f{i}=x" for i in range(50)), headers=FORM)
        assert crowded.status_code == 400
        assert client.post("/sign-in", content=b"\x00\xff", headers=FORM).status_code == 403  # no CSRF token
        assert client.post("/sign-in", json={"token": "x"}).status_code == 415
    with http_session(console, stack.api_token([CLINIC_A])) as client:
        assert client.post("/sign-out", data={"csrf": "guessed"}).status_code == 403


def test_expired_and_tampered_sessions_go_back_to_sign_in(stack: LocalStack, console: ServiceProcess) -> None:
    key = LOCAL_DEV_KEY.encode()
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = encode_session(new_session("ana", frozenset({CLINIC_A}), past, int(past.timestamp()) + 60), key)
    with http_session(console, stack.api_token([CLINIC_A])) as client:
        good = client.cookies["console_session"]
        assert decode_session(good, [key], datetime.now(UTC)) is not None
        payload, signature = good.split(".")
        widened = encode_session(new_session("ana", None, datetime.now(UTC), 2**40), key).split(".")[0]
        for cookie in (expired, f"{widened}.{signature}", f"{payload}.{signature[:-3]}abc", "garbage"):
            client.cookies.set("console_session", cookie)
            for path in ("/network", f"/clinics/{CLINIC_A}/now"):
                response = client.get(path)
                assert response.status_code == 303 and response.headers["location"] == "/sign-in", (cookie, path)
            assert client.get(f"/clinics/{CLINIC_A}/now/live").status_code == 401
    # a token that has already expired makes no lasting session either
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        client.get("/sign-in")
        stale = stack.api_token([CLINIC_A], ttl_seconds=-5)  # within the verifier's 30 s leeway
        response = client.post("/sign-in", data={"token": stale, "csrf": client.cookies["console_sign_in"]})
        assert response.status_code == 303
        assert client.get("/network").headers.get("location") == "/sign-in"
