"""Delivery channels behind one small interface: the local sink (make run, tests) and a webhook
adapter for a real SMS/email provider.

A channel gets an idempotency key with every send; a provider that sees the same key again must
not deliver again (the local sink enforces that with a primary key). Results are classified as
delivered, transient (retry with backoff) or permanent (record the reason, stop).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Literal, Protocol

import asyncpg
import httpx

from frontdesk.common.db import create_pool
from frontdesk.common.settings import ServiceSettings

from .. import settings

Outcome = Literal["delivered", "transient", "permanent"]


@dataclass(frozen=True)
class Outgoing:
    idempotency_key: str
    channel: Literal["sms", "email"]
    address: str
    body: str
    subject: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    provider_message_id: str | None = None
    reason: str = ""


class Channel(Protocol):
    async def send(self, message: Outgoing) -> DeliveryResult: ...


class LocalSink:
    """Delivers into followup's own `sink_deliveries` table, on its own connection (so a rollback or
    crash of followup's transaction does not undo a delivery, as with a real provider).

    Test addresses: an SMS number ending in 000 fails permanently; one ending in 999 fails
    transiently on its first two attempts."""

    def __init__(self, database_url: str | None = None) -> None:
        self._url = database_url
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            url = self._url or ServiceSettings.for_service("followup").database_url
            self._pool = await create_pool(url, 2)
        return self._pool

    async def send(self, message: Outgoing) -> DeliveryResult:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            calls = await conn.fetchval(
                "WITH i AS (INSERT INTO sink_calls (idempotency_key) VALUES ($1) RETURNING 1)"
                " SELECT count(*) + 1 FROM sink_calls WHERE idempotency_key = $1",
                message.idempotency_key,
            )
            if message.address.endswith("000"):
                return DeliveryResult("permanent", reason="unreachable_address")
            if message.address.endswith("999") and calls <= 2:
                return DeliveryResult("transient", reason="provider_unavailable")
            provider_id = "sink-" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]
            await conn.execute(
                "INSERT INTO sink_deliveries (idempotency_key, provider_message_id, channel, address, subject, body)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
                message.idempotency_key,
                provider_id,
                message.channel,
                message.address,
                message.subject,
                message.body,
            )
            return DeliveryResult("delivered", provider_id)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


class WebhookProvider:
    """POSTs each message to a provider URL with an `Idempotency-Key` header and an HMAC signature.

    2xx = delivered (the JSON body's `id` is the provider's message id); 408, 429, 5xx and network
    errors are transient; any other 4xx is permanent."""

    def __init__(self, url: str, secret: bytes, timeout: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._secret = secret  # ours for this direction: never one that verifies the provider's webhooks
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, message: Outgoing) -> DeliveryResult:
        body = json.dumps(
            {"channel": message.channel, "to": message.address, "body": message.body, "subject": message.subject}
        ).encode()
        ts = str(int(time.time()))
        signature = hmac.new(self._secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
            "X-Frontdesk-Timestamp": ts,
            "X-Frontdesk-Signature": signature,
        }
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult("transient", reason=type(exc).__name__[:64])
        if 200 <= response.status_code < 300:
            try:
                provider_id = str(response.json().get("id") or message.idempotency_key)
            except ValueError:
                provider_id = message.idempotency_key
            return DeliveryResult("delivered", provider_id[:128])
        if response.status_code in (408, 429) or response.status_code >= 500:
            return DeliveryResult("transient", reason=f"http_{response.status_code}")
        return DeliveryResult("permanent", reason=f"http_{response.status_code}")


_channel: Channel | None = None


def get_channel() -> Channel:
    """The process's channel: the webhook provider if FOLLOWUP_PROVIDER_URL is set, else (only ever on
    the local stack: followup.settings refuses to start elsewhere without a provider) the sink."""
    global _channel
    if _channel is None:
        config = settings.current()
        _channel = (
            WebhookProvider(config.provider_url, config.outbound_secret()) if config.provider_url else LocalSink()
        )
    return _channel


def set_channel(channel: Channel | None) -> None:
    global _channel
    _channel = channel
