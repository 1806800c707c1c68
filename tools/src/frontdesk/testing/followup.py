"""followup's side of the integration tests that other packages' tests use too: its API with the
session's network-wide token, signed webhooks, a message request as reviews asks for one, a patient's
phone number, and a time zone where it is now a given local hour (followup keeps quiet hours)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.contracts import MessageRequested
from frontdesk.followup.settings import LOCAL_DEV_SECRET
from frontdesk.followup.sms_replies import sign

from .helpers import uid

CANDIDATE_ZONES = [
    "Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Shanghai", "Asia/Bangkok",
    "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Europe/Berlin", "Europe/London", "Atlantic/Azores",
    "America/Sao_Paulo", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "Pacific/Honolulu", "Pacific/Pago_Pago",
]  # fmt: skip
FEEDBACK_LINK = "https://reviews.example/v1/feedback/" + "k" * 120

# The network-wide token's headers, filled in by followup's tests (its `_network_token` fixture).
AUTH: dict[str, str] = {}


async def api_request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    kwargs["headers"] = {**AUTH, **kwargs.get("headers", {})}
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, **kwargs)


def zone_where_local_hour_in(low: int, high: int) -> str:
    now = datetime.now(UTC)
    for name in CANDIDATE_ZONES:
        # Keep clear of the window's edges so a slow test never crosses one.
        if low <= now.astimezone(ZoneInfo(name)).hour < high:
            return name
    raise AssertionError("no candidate zone fits")  # pragma: no cover - the list spans the day


def phone_for(patient_id: str, suffix: str = "") -> str:
    digits = "".join(c for c in patient_id if c.isdigit()) or "0"
    return "+1555" + (digits + "1234567")[: 7 - len(suffix)] + suffix


async def signed_post(
    url: str, payload: dict[str, Any], secret: str = LOCAL_DEV_SECRET, ts: int | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Frontdesk-Timestamp": stamp,
        "X-Frontdesk-Signature": sign(secret, stamp, body),
    }
    return await api_request("POST", url, content=body, headers=headers, timeout=10)


def request(patient_id: str, clinic_id: str, **kw: Any) -> MessageRequested:
    defaults: dict[str, Any] = {
        "message_request_id": uid("msg"),
        "requested_by": "reviews",
        "patient_id": patient_id,
        "clinic_id": clinic_id,
        "purpose": "feedback",
        "template": "review-request",
        # What the reviews service sends: its signed private-rating link and the public review links.
        "variables": {
            "feedback_link": FEEDBACK_LINK,
            "review_links": "https://g.page/r/harbour-view/review https://www.healthgrades.com/x",
        },
    }
    return MessageRequested(**{**defaults, **kw})
