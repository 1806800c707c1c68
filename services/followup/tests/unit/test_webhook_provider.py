"""The webhook provider adapter: idempotency key and signature on every call, and the outcome
classification that decides between retry and giving up."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from frontdesk.followup.adapters.channels import Outgoing, WebhookProvider
from frontdesk.followup.sms_replies import verify

MESSAGE = Outgoing(idempotency_key="fd-reviews-msg-1", channel="sms", address="+15555550123", body="Maple: hi")


def provider(
    status: int, body: object = None, raise_error: bool = False
) -> tuple[WebhookProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if raise_error:
            raise httpx.ConnectError("down", request=request)
        return httpx.Response(status, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return WebhookProvider("https://sms.example/send", b"s3cret", client=client), seen


def test_delivered_with_the_providers_id_and_a_signed_idempotent_request() -> None:
    channel, seen = provider(202, {"id": "prov-42"})
    result = asyncio.run(channel.send(MESSAGE))
    assert (result.outcome, result.provider_message_id) == ("delivered", "prov-42")
    [request] = seen
    assert request.headers["Idempotency-Key"] == "fd-reviews-msg-1"
    ts = request.headers["X-Frontdesk-Timestamp"]
    assert verify([b"s3cret"], ts, request.headers["X-Frontdesk-Signature"], request.content, float(ts)) is None
    assert json.loads(request.content) == {"channel": "sms", "to": "+15555550123", "body": "Maple: hi", "subject": None}


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (500, "transient"),
        (503, "transient"),
        (429, "transient"),
        (408, "transient"),
        (400, "permanent"),
        (404, "permanent"),
    ],
)
def test_status_codes_are_classified(status: int, outcome: str) -> None:
    channel, _ = provider(status, {})
    result = asyncio.run(channel.send(MESSAGE))
    assert (result.outcome, result.reason) == (outcome, f"http_{status}")


def test_a_network_error_is_transient() -> None:
    channel, _ = provider(200, raise_error=True)
    assert asyncio.run(channel.send(MESSAGE)).outcome == "transient"
