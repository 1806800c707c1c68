"""Sign-in through a real OpenID Connect provider (mock-oauth2-server from Maven Central, on another
loopback address so that it is another site): a staff member signs in through its login form in
headless Chromium and lands on Now; a tampered attempt cookie, state, code or session is refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from frontdesk.common.contracts import ClinicConfig
from frontdesk.console.domain.session import encode_session, new_session
from frontdesk.console.settings import LOCAL_DEV_KEY
from frontdesk.tools.apply import publish
from frontdesk.tools.oidc import MockOidcProvider
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .browser import DESKTOP, PAGE_WAIT, TABLET, chromium, screenshot, serious_violations
from .test_console import wait_until_known

pytestmark = pytest.mark.integration

CLINIC = "console-oidc-a"
CLIENT_ID = "frontdesk-console"
REPLICA = 9  # its own instance of the console (port, pid file), in the console's consumer group


@pytest.fixture(scope="module")
def provider() -> Iterator[MockOidcProvider]:
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-test-oidc-"))
    mock = MockOidcProvider(state_dir, host="127.0.0.2")
    try:
        mock.start()
        yield mock
    finally:
        mock.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def console(stack: LocalStack, provider: MockOidcProvider) -> Iterator[ServiceProcess]:
    base = stack.replica("console", REPLICA)
    env = {
        **base.env,
        "CONSOLE_OIDC_ISSUER": provider.issuer,
        "CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
        "CONSOLE_OIDC_CLIENT_SECRET": "mock-oauth2-server-accepts-any-secret",
        "CONSOLE_OIDC_REDIRECT_URL": f"{base.url}/sign-in/oidc/callback",
        "CONSOLE_OIDC_PROVIDER_NAME": "Lakeside Health ID",
    }
    proc = ServiceProcess(base.name, base.state_dir, base.http_port, env, instance=base.instance, token=base.token)
    clinic = ClinicConfig.model_validate(
        {
            "clinic_id": CLINIC,
            "name": "Lakeside OIDC Clinic",
            "timezone": "America/Denver",
            "phone": {"front_desk_pool": "desk-oidc", "answering_service": "oidc-vendor"},
        }
    )
    proc.start()
    try:
        asyncio.run(publish(stack.bootstrap, [clinic]))
        wait_until_known(proc, CLINIC)
        yield proc
    finally:
        proc.stop()


def login_at_provider(client: httpx.Client, authorize_url: str, claims: dict[str, object]) -> str:
    """The provider's login form, as a person fills it; the console's callback URL it answers with."""
    form = client.get(authorize_url)
    assert form.status_code == 200 and 'name="username"' in form.text
    answer = client.post(str(form.url), data={"username": "ana.front", "claims": json.dumps(claims)})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def start(client: httpx.Client) -> str:
    started = client.get("/sign-in/oidc")
    assert started.status_code == 303
    cookie = started.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/sign-in/oidc" in cookie
    return started.headers["location"]


def test_staff_sign_in_through_the_providers_form_and_land_on_now(
    console: ServiceProcess, provider: MockOidcProvider
) -> None:
    driver = chromium()
    try:
        driver.get(console.url + "/sign-in")
        assert not serious_violations(driver)
        screenshot(driver, "sign-in-oidc-desktop", DESKTOP)
        screenshot(driver, "sign-in-oidc-tablet", TABLET)
        driver.find_element(By.ID, "sign-in-oidc").click()
        WebDriverWait(driver, PAGE_WAIT).until(lambda d: d.current_url.startswith(provider.issuer))
        driver.find_element(By.NAME, "username").send_keys("ana.front")
        driver.find_element(By.NAME, "claims").send_keys(json.dumps({"clinics": [CLINIC], "scope": "read"}))
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(driver, PAGE_WAIT, 0.1).until(lambda d: d.current_url.endswith(f"/clinics/{CLINIC}/now"))
        WebDriverWait(driver, PAGE_WAIT, 0.1).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live .live"))
        assert "Signed in as ana.front" in driver.find_element(By.CSS_SELECTOR, "header").text
        session = driver.get_cookie("console_session")
        assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"
        assert driver.get_cookie("console_oidc") is None  # the attempt is spent
        assert not serious_violations(driver)
    finally:
        driver.quit()


def test_the_callback_refuses_what_this_browser_did_not_start(
    console: ServiceProcess, provider: MockOidcProvider
) -> None:
    claims = {"clinics": [CLINIC], "scope": "read"}
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        callback = login_at_provider(client, start(client), claims)
        query = parse_qs(urlsplit(callback).query)
        code, state = query["code"][0], query["state"][0]
        path, params = "/sign-in/oidc/callback", {"code": code, "state": state}
        attempt = client.cookies["console_oidc"]
        # another state than the attempt's (a forged or swapped answer): refused, the attempt dropped
        refused = client.get(path, params={"code": code, "state": state + "x"})
        assert refused.status_code == 403 and "another sign-in" in refused.text
        assert "console_session" not in refused.headers.get("set-cookie", "")
        # the attempt cookie altered, or absent: refused
        for cookie in (f"console_oidc={attempt[:-4]}AAAA", f"console_oidc={attempt.split('.')[0]}", ""):
            answer = httpx.get(console.url + path, params=params, headers={"Cookie": cookie} if cookie else {})
            assert answer.status_code == 403 and "did not start this sign-in" in answer.text
        # the untouched attempt with its own state still signs in: the refusals spent nothing
        answer = httpx.get(console.url + path, params=params, headers={"Cookie": f"console_oidc={attempt}"})
        assert answer.status_code == 200 and "console_session=" in answer.headers["set-cookie"]
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        # a code the provider never issued (or a replayed one): the provider refuses it, so do we
        authorize = start(client)
        state = parse_qs(urlsplit(authorize).query)["state"][0]
        refused = client.get("/sign-in/oidc/callback", params={"code": "forged-code", "state": state})
        assert refused.status_code == 401 and "refused the sign-in code" in refused.text
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        authorize = start(client)
        state = parse_qs(urlsplit(authorize).query)["state"][0]
        denied = client.get("/sign-in/oidc/callback", params={"error": "access_denied", "state": state})
        assert denied.status_code == 401 and "access_denied" in denied.text


def test_a_sign_in_without_clinics_is_refused_and_a_good_one_expires(
    console: ServiceProcess, provider: MockOidcProvider
) -> None:
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        callback = login_at_provider(client, start(client), {"scope": "read"})
        refused = client.get(callback)
        assert refused.status_code == 401 and "names no clinics" in refused.text
        assert "console_session" not in refused.headers.get("set-cookie", "")
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as client:
        callback = login_at_provider(client, start(client), {"clinics": [CLINIC], "scope": "read"})
        signed_in = client.get(callback)
        assert signed_in.status_code == 200 and 'http-equiv="refresh"' in signed_in.text
        cookie = signed_in.headers["set-cookie"].lower()
        assert "console_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert client.get("/").headers["location"] == f"/clinics/{CLINIC}/now"
        assert client.get(f"/clinics/{CLINIC}/now").status_code == 200
        assert client.get("/clinics/another-clinic/now").status_code == 403
        # the same code twice: the provider has spent it
        assert client.get(callback).status_code in (401, 403)
        past = datetime.now(UTC) - timedelta(hours=1)
        expired = new_session("ana.front", frozenset({CLINIC}), past, int(past.timestamp()) + 60)
        cookie = {"Cookie": f"console_session={encode_session(expired, LOCAL_DEV_KEY.encode())}"}
        response = httpx.get(f"{console.url}/clinics/{CLINIC}/now", headers=cookie, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/sign-in"
