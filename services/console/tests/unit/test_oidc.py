"""OpenID Connect sign-in rules: PKCE, the signed attempt, every check of the ID token, the claims'
mapping to the APIs' principal, and the settings that refuse a half-configured provider."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from frontdesk.common.settings import ServiceSettings
from frontdesk.console import settings as console_settings
from frontdesk.console.domain import oidc
from frontdesk.console.domain.oidc import SignInRefused, UnknownSigningKey

ISSUER, CLIENT, NONCE = "https://id.example.org/realms/clinics", "frontdesk-console", "n-0S6_WzA2Mj"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = datetime.now(UTC)


def jwks(*keys: tuple[Any, str]) -> dict[str, Any]:
    out = []
    for key, kid in keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        out.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": out}


JWKS = jwks((KEY, "k1"))


def id_token(key: Any = KEY, kid: str = "k1", alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "ana", "iat": now, "exp": now + 300, "nonce": NONCE}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def verify(token: str, keys: dict[str, Any] = JWKS) -> dict[str, Any]:
    return oidc.verify_id_token(token, keys, ISSUER, CLIENT, NONCE, NOW)


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert (
        oidc.challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    attempt = oidc.new_attempt(NOW)
    assert 43 <= len(attempt.verifier) <= 128 and attempt.state != attempt.nonce


def test_the_attempt_cookie_is_signed_and_short_lived() -> None:
    attempt, key = oidc.new_attempt(NOW), b"k" * 32
    cookie = oidc.encode_attempt(attempt, key)
    assert oidc.decode_attempt(cookie, [b"old" * 11, key], NOW) == attempt
    payload, signature = cookie.split(".")
    forged = oidc.encode_attempt(oidc.new_attempt(NOW), b"x" * 32).split(".")[0]
    for bad in (f"{forged}.{signature}", f"{payload}.{signature[:-2]}xy", "garbage", ""):
        assert oidc.decode_attempt(bad, [key], NOW) is None
    assert oidc.decode_attempt(cookie, [key], NOW + timedelta(seconds=oidc.ATTEMPT_SECONDS)) is None
    assert oidc.state_matches(attempt, attempt.state)
    assert not oidc.state_matches(attempt, attempt.state + "x") and not oidc.state_matches(attempt, None)


def test_the_authorization_request_carries_state_nonce_and_the_s256_challenge() -> None:
    attempt = oidc.new_attempt(NOW)
    url = oidc.authorization_url("https://id.example.org/auth?kc=1", CLIENT, "https://c/cb", "openid", attempt)
    assert url.startswith("https://id.example.org/auth?kc=1&response_type=code&")
    for part in (f"state={attempt.state}", f"nonce={attempt.nonce}", "code_challenge_method=S256"):
        assert part in url
    assert f"code_challenge={oidc.challenge(attempt.verifier)}" in url and attempt.verifier not in url


def test_a_valid_id_token_gives_its_claims() -> None:
    assert verify(id_token(clinics=["a"]))["clinics"] == ["a"]
    assert verify(id_token(aud=[CLIENT, "other"], azp=CLIENT))["sub"] == "ana"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (lambda: id_token(nonce="replayed"), "nonce"),
        (lambda: id_token(nonce=None), "nonce"),
        (lambda: id_token(aud="another-client"), "(?i)audience"),
        (lambda: id_token(aud=[CLIENT, "other"], azp="other"), "azp"),
        (lambda: id_token(iss="https://evil.example.org"), "issuer"),
        (lambda: id_token(exp=int(time.time()) - 120), "expired"),
        (lambda: id_token(sub=None), "sub"),
        (lambda: id_token(key=OTHER_KEY), "Signature"),
        (lambda: id_token(key="a-shared-secret-that-is-long-enough-32", alg="HS256"), "algorithm"),
        (lambda: jwt.encode({"sub": "ana"}, None, algorithm="none"), "algorithm"),
        (lambda: "not.a.jwt", "not a JWT"),
    ],
)
def test_an_id_token_is_refused(token: Any, why: str) -> None:
    with pytest.raises(SignInRefused, match=why):
        verify(token())


def test_a_key_the_provider_does_not_publish_asks_for_fresh_keys() -> None:
    with pytest.raises(UnknownSigningKey):
        verify(id_token(key=OTHER_KEY, kid="rotated"))
    assert verify(id_token(key=OTHER_KEY, kid="rotated"), jwks((KEY, "k1"), (OTHER_KEY, "rotated")))["sub"] == "ana"


def test_claims_map_to_the_same_principal_as_a_frontdesk_token() -> None:
    one = oidc.principal_of({"sub": "ana", "clinics": ["a", "b"], "scope": "read"}, "clinics", "scope")
    assert one.clinics == frozenset({"a", "b"}) and one.scopes == frozenset({"read"})
    network = oidc.principal_of({"sub": "ops", "groups": "*", "roles": "read write"}, "groups", "roles")
    assert network.clinics is None and network.scopes == frozenset({"read", "write"})
    assert oidc.principal_of({"sub": "x", "clinics": "a, b"}, "clinics", "scope").clinics == frozenset({"a", "b"})
    with pytest.raises(SignInRefused, match="names no clinics"):
        oidc.principal_of({"sub": "ana"}, "clinics", "scope")
    with pytest.raises(SignInRefused, match="read"):
        oidc.principal_of({"sub": "ana", "clinics": ["a"], "scope": "write"}, "clinics", "scope")


def _service(local: bool) -> ServiceSettings:
    host = "127.0.0.1" if local else "db.internal"
    return ServiceSettings(database_url=f"postgresql://u:p@{host}/d", kafka_bootstrap_servers=f"{host}:9092")


PROVIDER = console_settings.OidcSettings(ISSUER, CLIENT, None, "https://c/cb", "openid", "clinics", "scope", "Org")


def test_outside_the_local_stack_staff_sign_in_only_through_the_provider() -> None:
    key = "k" * 32
    with pytest.raises(console_settings.MissingSignInProvider):
        console_settings.resolve(key, _service(local=False))
    remote = console_settings.resolve(key, _service(local=False), PROVIDER)
    assert remote.oidc == PROVIDER and not remote.token_sign_in and remote.secure_cookies
    plain = console_settings.OidcSettings(
        "http://id.example.org", CLIENT, None, "https://c/cb", "openid", "c", "s", "O"
    )
    with pytest.raises(console_settings.MissingSignInProvider, match="https"):
        console_settings.resolve(key, _service(local=False), plain)
    local = console_settings.resolve(None, _service(local=True))
    assert local.token_sign_in and local.oidc is None


def test_a_half_configured_provider_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_OIDC_ISSUER", ISSUER)
    with pytest.raises(console_settings.MissingSignInProvider, match="CONSOLE_OIDC_CLIENT_ID, CONSOLE_OIDC_REDIRECT"):
        console_settings._oidc(console_settings._Environment())
