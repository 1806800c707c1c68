"""Bearer tokens: what the services accept and what they refuse, and with which message."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import HTTPException

from frontdesk.common.auth import Principal, TokenVerifier, generate_signing_key, issue_token

PRIVATE, PUBLIC = generate_signing_key()
OTHER_PRIVATE, OTHER_PUBLIC = generate_signing_key()


def refused(verifier: TokenVerifier, token: str, method: str = "GET") -> HTTPException:
    with pytest.raises(HTTPException) as caught:
        verifier.verify(token, method)
    return caught.value


def test_a_valid_token_names_its_subject_clinics_and_scopes() -> None:
    principal = TokenVerifier(PUBLIC).verify(issue_token(PRIVATE, "ana", ["c1", "c2"]), "POST")
    assert principal == Principal("ana", frozenset({"c1", "c2"}), frozenset({"read", "write"}))
    assert principal.can_see("c1") and not principal.can_see("c3") and not principal.can_see(None)
    assert principal.visible_clinics() == ["c1", "c2"]


def test_a_network_wide_token_sees_every_clinic() -> None:
    principal = TokenVerifier(PUBLIC).verify(issue_token(PRIVATE, "integration", None), "GET")
    assert principal.clinics is None and principal.can_see("anything")
    assert principal.visible_clinics() is None
    principal.require_clinic("c9")
    principal.require_owner("c9", "appointment")
    principal.require_any(["c9"], "patient")


def test_object_checks_refuse_other_clinics_without_revealing_existence() -> None:
    principal = Principal("ana", frozenset({"c1"}), frozenset({"read"}))
    assert refused_call(lambda: principal.require_clinic("c2")) == (403, "this token is not scoped to clinic c2")
    assert refused_call(lambda: principal.require_owner("c2", "appointment")) == (404, "unknown appointment")
    assert refused_call(lambda: principal.require_owner(None, "appointment")) == (404, "unknown appointment")
    assert refused_call(lambda: principal.require_any(["c2", "c3"], "patient")) == (404, "unknown patient")
    principal.require_any(["c2", "c1"], "patient")


def refused_call(call: object) -> tuple[int, str]:
    with pytest.raises(HTTPException) as caught:
        call()  # type: ignore[operator]
    return caught.value.status_code, str(caught.value.detail)


def test_a_read_only_token_reads_but_does_not_write() -> None:
    verifier = TokenVerifier(PUBLIC)
    token = issue_token(PRIVATE, "viewer", ["c1"], scopes=("read",))
    assert verifier.verify(token, "GET").subject == "viewer"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        error = refused(verifier, token, method)
        assert (error.status_code, error.detail) == (403, "this token lacks the 'write' scope")


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (lambda: issue_token(PRIVATE, "ana", ["c1"], ttl_seconds=-120), "the bearer token has expired"),
        (lambda: issue_token(OTHER_PRIVATE, "ana", ["c1"]), "the bearer token is signed by an unknown key"),
        (lambda: "not-a-token", "the bearer token is not a JWT"),
        (lambda: issue_token(PRIVATE, "ana", []), "the bearer token names no clinics"),
    ],
)
def test_bad_tokens_get_a_401_that_says_why(make_token: object, message: str) -> None:
    error = refused(TokenVerifier(PUBLIC), make_token())  # type: ignore[operator]
    assert (error.status_code, error.detail) == (401, message)
    assert error.headers == {"WWW-Authenticate": 'Bearer realm="frontdesk"'}


def _signed(claims: dict[str, object]) -> str:
    key = serialization.load_pem_private_key(PRIVATE.encode(), password=None)
    kid = jwt.get_unverified_header(issue_token(PRIVATE, "x", ["c"]))["kid"]
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]


def test_tokens_without_expiry_or_for_another_audience_are_refused() -> None:
    now = int(time.time())
    verifier = TokenVerifier(PUBLIC)
    no_exp = refused(verifier, _signed({"sub": "a", "aud": "frontdesk", "clinics": ["c1"]}))
    assert no_exp.status_code == 401 and "exp" in str(no_exp.detail)
    other = refused(verifier, _signed({"sub": "a", "aud": "billing", "exp": now + 60, "clinics": ["c1"]}))
    assert other.status_code == 401 and "audience" in str(other.detail).lower()


def test_a_tampered_token_is_refused() -> None:
    token = issue_token(PRIVATE, "ana", ["c1"])
    header, _, signature = token.split(".")
    forged = issue_token(PRIVATE, "ana", ["*"]).split(".")[1]
    error = refused(TokenVerifier(PUBLIC), f"{header}.{forged}.{signature}")
    assert error.status_code == 401 and "signature" in str(error.detail).lower()


def test_key_rollover_accepts_old_and_new_keys_until_the_old_is_removed() -> None:
    old_token, new_token = issue_token(PRIVATE, "ana", ["c1"]), issue_token(OTHER_PRIVATE, "ana", ["c1"])
    both = TokenVerifier(PUBLIC + OTHER_PUBLIC)
    assert both.verify(old_token, "GET").subject == both.verify(new_token, "GET").subject == "ana"
    only_new = TokenVerifier(OTHER_PUBLIC)
    assert only_new.verify(new_token, "GET").subject == "ana"
    assert refused(only_new, old_token).status_code == 401


def test_without_keys_every_token_is_refused() -> None:
    error = refused(TokenVerifier(""), issue_token(PRIVATE, "ana", ["c1"]))
    assert error.status_code == 401 and "FRONTDESK_AUTH_PUBLIC_KEYS" in str(error.detail)
