"""followup refuses to start outside the local stack without its provider and secrets (issue 16, item 1)."""

from __future__ import annotations

import pytest

from frontdesk.common.settings import ServiceSettings
from frontdesk.followup.settings import (
    LOCAL_DEV_SECRET,
    FollowupSettings,
    MissingProviderSettings,
    resolve,
)

INBOUND = "i" * 32 + "," + "j" * 40
OUTBOUND = "o" * 32


def service(db: str, kafka: str = "127.0.0.1:9092") -> ServiceSettings:
    return ServiceSettings(service="followup", database_url=db, kafka_bootstrap_servers=kafka, http_port=8003)


LOCAL = service("postgresql://postgres@127.0.0.1:5432/x")
CLUSTER = service("postgresql://followup@db.internal:5432/followup", "frontdesk-kafka-bootstrap:9093")


def configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in ("WEBHOOK_SECRETS", "PROVIDER_SIGNING_SECRETS", "PROVIDER_URL", "WEBHOOK_SECRET"):
        monkeypatch.delenv(f"FOLLOWUP_{name}", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(f"FOLLOWUP_{name.upper()}", value)


def test_issue16_item1_the_local_stack_gets_public_dev_secrets_and_the_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch)
    resolved = resolve(FollowupSettings(), LOCAL)
    assert resolved.inbound_secrets() == [LOCAL_DEV_SECRET.encode()]
    assert resolved.outbound_secret() not in resolved.inbound_secrets()
    assert resolved.provider_url == ""


@pytest.mark.parametrize(
    ("missing", "values"),
    [
        (
            "FOLLOWUP_WEBHOOK_SECRETS",
            {"provider_signing_secrets": OUTBOUND, "provider_url": "https://sms.example/send"},
        ),
        ("FOLLOWUP_PROVIDER_SIGNING_SECRETS", {"webhook_secrets": INBOUND, "provider_url": "https://sms.example/send"}),
        ("FOLLOWUP_PROVIDER_URL", {"webhook_secrets": INBOUND, "provider_signing_secrets": OUTBOUND}),
    ],
)
def test_issue16_item1_outside_the_local_stack_each_missing_setting_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, missing: str, values: dict[str, str]
) -> None:
    configure(monkeypatch, **values)
    with pytest.raises(MissingProviderSettings, match=missing):
        resolve(FollowupSettings(), CLUSTER)


def test_issue16_item1_a_lone_loopback_broker_does_not_make_a_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch)
    mixed = service("postgresql://postgres@127.0.0.1:5432/x", "127.0.0.1:9092,kafka-1:9092")
    with pytest.raises(MissingProviderSettings):
        resolve(FollowupSettings(), mixed)


def test_issue16_item1_secrets_rotate_per_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(
        monkeypatch,
        webhook_secrets=INBOUND,
        provider_signing_secrets=OUTBOUND + ", " + "p" * 32,
        provider_url="https://sms.example/send",
    )
    resolved = resolve(FollowupSettings(), CLUSTER)
    assert resolved.inbound_secrets() == [b"i" * 32, b"j" * 40]
    assert resolved.outbound_secret() == b"o" * 32  # the first signs


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"webhook_secrets": "short", "provider_signing_secrets": OUTBOUND}, "at least 32"),
        ({"webhook_secrets": INBOUND, "provider_signing_secrets": "i" * 32}, "must differ"),
        ({"webhook_secrets": INBOUND, "provider_signing_secrets": OUTBOUND, "provider_url": "http://x"}, "https"),
    ],
)
def test_issue16_item1_weak_shared_or_plaintext_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], problem: str
) -> None:
    configure(monkeypatch, **{"provider_url": "https://sms.example/send", **values})
    with pytest.raises(MissingProviderSettings, match=problem):
        resolve(FollowupSettings(), CLUSTER)
