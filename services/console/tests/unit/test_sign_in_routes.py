"""The sign-in routes as deployed outside the local stack (a provider configured, no token form,
Secure cookies), against a provider played by httpx's MockTransport: the whole exchange, a token
posted to the form refused, an ID token for another sign-in refused, a provider that is down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from frontdesk.console.adapters.oidc_provider import Provider
from frontdesk.console.entrypoints import oidc as oidc_routes
from frontdesk.console.entrypoints import pages
from frontdesk.console.settings import ConsoleSettings, OidcSettings

ISSUER = "https://id.example.org/realms/clinics"
CONSOLE = "https://console.example.org"
PROVIDER = OidcSettings(
    ISSUER,
    "frontdesk-console",
    "s3cret",
    f"{CONSOLE}/sign-in/oidc/callback",
    "openid clinics",
    "clinics",
    "scope",
    "Org ID",
)
SETTINGS = ConsoleSettings(session_keys=(b"k" * 32,), secure_cookies=True, oidc=PROVIDER, token_sign_in=False)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeProvider:
    """Discovery, JWKS and a token endpoint; the ID token carries `nonce` and `claims`."""

    def __init__(self) -> None:
        self.nonce = ""
        self.claims: dict[str, Any] = {"clinics": ["clinic-a"], "scope": "read"}
        self.down = False
        self.token_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/certs",
                },
            )
        if path.endswith("/certs"):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
            return httpx.Response(200, json={"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})
        if path.endswith("/token"):
            self.token_requests.append(request)
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": PROVIDER.client_id, "sub": "dana", "iat": now, "exp": now + 600}
            id_token = jwt.encode({**claims, "nonce": self.nonce, **self.claims}, KEY, "RS256", headers={"kid": "k1"})
            return httpx.Response(200, json={"id_token": id_token, "token_type": "Bearer"})
        return httpx.Response(404)


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    fake = FakeProvider()
    provider = Provider(PROVIDER, transport=httpx.MockTransport(fake))
    current: Callable[[], ConsoleSettings] = lambda: SETTINGS  # noqa: E731
    monkeypatch.setattr(pages, "settings", current)
    monkeypatch.setattr(oidc_routes, "settings", current)
    monkeypatch.setattr(oidc_routes, "provider", lambda _: provider)
    return fake


@pytest.fixture
def client(idp: FakeProvider) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(pages.router)
    app.include_router(oidc_routes.router)
    with TestClient(app, base_url=CONSOLE, follow_redirects=False) as test_client:
        yield test_client


def start(client: TestClient, idp: FakeProvider) -> dict[str, str]:
    started = client.get("/sign-in/oidc")
    assert started.status_code == 303
    cookie = started.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    idp.nonce = query["nonce"]
    return query


def test_outside_the_local_stack_the_only_way_in_is_the_provider(client: TestClient) -> None:
    page = client.get("/sign-in")
    assert page.status_code == 200 and "Sign in with Org ID" in page.text
    assert 'name="token"' not in page.text and "console_sign_in" not in page.headers.get("set-cookie", "")
    posted = client.post("/sign-in", data={"token": "eyJ...", "csrf": "x"})
    assert posted.status_code == 403 and "local stack only" in posted.text


def test_the_whole_exchange(client: TestClient, idp: FakeProvider) -> None:
    query = start(client, idp)
    assert query["redirect_uri"] == PROVIDER.redirect_url and query["scope"] == "openid clinics"
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    done = client.get("/sign-in/oidc/callback", params={"code": "c0de", "state": query["state"]})
    assert done.status_code == 200 and "Signed in as dana" in done.text
    session = done.headers.get_list("set-cookie")
    assert any(c.startswith("console_session=") and "Secure" in c and "SameSite=strict" in c for c in session)
    sent = parse_qs(idp.token_requests[-1].content.decode())
    assert sent["code"] == ["c0de"] and sent["grant_type"] == ["authorization_code"] and sent["code_verifier"]
    assert idp.token_requests[-1].headers["authorization"].startswith("Basic ")  # client_secret_basic
    assert client.get("/").headers["location"] == "/clinics/clinic-a/now"


def test_an_id_token_for_another_sign_in_is_refused(client: TestClient, idp: FakeProvider) -> None:
    query = start(client, idp)
    idp.nonce = "someone-elses-nonce"
    refused = client.get("/sign-in/oidc/callback", params={"code": "c0de", "state": query["state"]})
    assert refused.status_code == 401 and "nonce" in refused.text
    assert "console_session=" not in refused.headers.get("set-cookie", "")


def test_a_provider_that_grants_no_read_is_refused(client: TestClient, idp: FakeProvider) -> None:
    query = start(client, idp)
    idp.claims = {"clinics": ["*"], "scope": "write"}
    refused = client.get("/sign-in/oidc/callback", params={"code": "c0de", "state": query["state"]})
    assert refused.status_code == 401 and "read" in refused.text


def test_a_provider_that_is_down_is_a_clear_502(client: TestClient, idp: FakeProvider) -> None:
    idp.down = True
    down = client.get("/sign-in/oidc")
    assert down.status_code == 502 and "did not answer" in down.text
