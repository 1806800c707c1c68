"""Signed, expiring links to the patient pages: forged, altered, expired or cross-purpose links are
refused; no production start without keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from frontdesk.common.patient_links import (
    LOCAL_DEV_KEY,
    LinkExpired,
    LinkInvalid,
    MissingLinkSettings,
    PatientLinkSettings,
    resolve,
    sign,
    verify,
)
from frontdesk.common.settings import ServiceSettings

KEY = b"k" * 32
OTHER = b"o" * 32
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
OFFER = "offer-0123456789abcdef"


def test_a_signed_link_verifies_until_it_expires_and_only_for_its_purpose() -> None:
    token = sign("offer", OFFER, NOW + timedelta(minutes=15), KEY)
    assert verify("offer", token, [KEY], NOW).link_id == OFFER
    with pytest.raises(LinkExpired):
        verify("offer", token, [KEY], NOW + timedelta(minutes=15))
    with pytest.raises(LinkInvalid):
        verify("reschedule", token, [KEY], NOW)  # an offer's link never opens another page


def test_the_token_is_short_and_names_only_the_offer() -> None:
    token = sign("offer", OFFER, NOW, KEY)
    link_id, expires, signature = token.split(".")
    assert link_id == OFFER and int(expires, 36) == int(NOW.timestamp()) and len(signature) == 22
    assert len(token) <= 56


@given(position=st.integers(0, 55), replacement=st.sampled_from("Aa0_-.x"))
def test_any_altered_character_is_refused(position: int, replacement: str) -> None:
    token = sign("offer", OFFER, NOW + timedelta(days=1), KEY)
    if position >= len(token) or token[position] == replacement:
        return
    altered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(LinkInvalid):
        verify("offer", altered, [KEY], NOW)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "../../etc", f"{OFFER}.-1.x", f"{OFFER}.1.2.3"])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(LinkInvalid):
        verify("offer", garbage, [KEY], NOW)


def test_rotation_and_foreign_keys() -> None:
    old = sign("offer", OFFER, NOW + timedelta(days=1), OTHER)
    assert verify("offer", old, [KEY, OTHER], NOW).link_id == OFFER
    with pytest.raises(LinkInvalid):
        verify("offer", old, [KEY], NOW)


def _service(host: str) -> ServiceSettings:
    return ServiceSettings(
        service="scheduler", database_url=f"postgresql://u@{host}/d", kafka_bootstrap_servers=f"{host}:9092"
    )


def test_no_keys_outside_the_local_stack_refuses_to_start() -> None:
    with pytest.raises(MissingLinkSettings):
        resolve(PatientLinkSettings(), _service("db.internal"))
    short = PatientLinkSettings(link_keys=SecretStr("short"), pages_url="https://p.example")
    with pytest.raises(MissingLinkSettings):
        resolve(short, _service("db.internal"))
    plain = PatientLinkSettings(link_keys=SecretStr("x" * 32), pages_url="http://p.example")
    with pytest.raises(MissingLinkSettings):
        resolve(plain, _service("db.internal"))
    good = resolve(PatientLinkSettings(link_keys=SecretStr("x" * 32), pages_url="https://p.example/"), _service("db"))
    assert good.url("offer", "t") == "https://p.example/p/offer/t"


def test_the_local_stack_gets_the_public_development_key() -> None:
    local = resolve(PatientLinkSettings(), _service("127.0.0.1"))
    assert local.keys() == [LOCAL_DEV_KEY.encode()] and local.pages_url.startswith("https://127.0.0.1")
