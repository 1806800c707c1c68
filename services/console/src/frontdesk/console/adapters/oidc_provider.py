"""The organisation's OpenID Connect provider over HTTP: its discovery document, its keys (JWKS) and
its token endpoint. The discovery document and the keys are cached; the keys are fetched again when an
ID token names one we lack (the provider rotated them), at most once a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ..domain import oidc
from ..domain.oidc import SignInRefused, UnknownSigningKey
from ..settings import OidcSettings

TIMEOUT_SECONDS = 10.0
JWKS_REFRESH_SECONDS = 60.0


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered something that is not OpenID Connect."""


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str


class Provider:
    def __init__(self, settings: OidcSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._transport = transport
        self._endpoints: Endpoints | None = None
        self._jwks: dict[str, Any] | None = None
        self._jwks_fetched_at = -JWKS_REFRESH_SECONDS

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, transport=self._transport, follow_redirects=False)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"{url}: {exc}") from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"{url}: not a JSON object")
        return body

    async def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != self.settings.issuer:  # OpenID Connect Discovery 1.0, section 4.3
                raise ProviderUnavailable(f"{url} names issuer {document.get('issuer')!r}, not the configured one")
            try:
                self._endpoints = Endpoints(
                    str(document["authorization_endpoint"]), str(document["token_endpoint"]), str(document["jwks_uri"])
                )
            except KeyError as missing:
                raise ProviderUnavailable(f"{url} lacks {missing}") from None
        return self._endpoints

    async def _keys(self, refresh: bool) -> dict[str, Any]:
        stale = time.monotonic() - self._jwks_fetched_at >= JWKS_REFRESH_SECONDS
        if self._jwks is None or (refresh and stale):
            self._jwks = await self._get_json((await self.endpoints()).jwks)
            self._jwks_fetched_at = time.monotonic()
        return self._jwks

    async def authorization_url(self, attempt: oidc.Attempt) -> str:
        s, endpoint = self.settings, (await self.endpoints()).authorization
        return oidc.authorization_url(endpoint, s.client_id, s.redirect_url, s.scopes, attempt)

    async def exchange(self, code: str, verifier: str) -> str:
        """The ID token the code and PKCE verifier buy; SignInRefused when the provider says no."""
        s = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.redirect_url,
            "code_verifier": verifier,
            "client_id": s.client_id,
        }
        # client_secret_basic for a confidential client; a public client proves itself by PKCE alone
        auth = httpx.BasicAuth(s.client_id, s.client_secret) if s.client_secret is not None else None
        try:
            async with self._client() as client:
                if auth is None:
                    response = await client.post((await self.endpoints()).token, data=form)
                else:
                    response = await client.post((await self.endpoints()).token, data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"token endpoint: {exc}") from None
        if 400 <= response.status_code < 500:
            error = _field(response, "error") or f"HTTP {response.status_code}"
            raise SignInRefused(f"the provider refused the sign-in code ({error})")
        id_token = _field(response, "id_token")
        if response.status_code != 200 or id_token is None:
            raise ProviderUnavailable(f"token endpoint answered HTTP {response.status_code} without an ID token")
        return id_token

    async def verified_claims(self, id_token: str, nonce: str, now: datetime) -> dict[str, Any]:
        s = self.settings
        try:
            return oidc.verify_id_token(id_token, await self._keys(False), s.issuer, s.client_id, nonce, now)
        except UnknownSigningKey:
            return oidc.verify_id_token(id_token, await self._keys(True), s.issuer, s.client_id, nonce, now)


def _field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None
