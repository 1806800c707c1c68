"""call-router's API per clinic: every operation against the authorization matrix (authz.py), on a real
call, a delivered digest message and a registered caller of clinic A; the reports' rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from frontdesk.common.contracts import vendor_events_topic
from frontdesk.testing.authz import Op, Tokens, check_matrix, exceed_then_recover, replica_with_limits
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_call_router_lifecycle import _call
from .test_call_router_vendor_messages import (
    NY,
    _bring_forward,
    _clinic,
    _message,
    _message_row,
    _next_opening,
    _vendor_topic_ready,
)

WAIT = 90.0


@pytest.fixture(scope="module")
def clinics(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[tuple[str, str, str]]:
    """Clinics A and B, open only on a weekday two days ahead (A's routine messages wait for a digest)."""
    router = services["call-router"]
    vendor = uid("vend-authz")
    weekday, _ = _next_opening(NY, 2, "08:30")

    async def configure() -> tuple[str, str]:
        return (
            await _clinic(stack, router, vendor, {weekday: ["08:30-17:00"]}),
            await _clinic(stack, router, vendor, {weekday: ["08:30-17:00"]}),
        )

    a, b = asyncio.run(configure())
    yield a, b, vendor


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (found := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)
    return found


async def test_every_operation_is_authorized_per_clinic(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str, str]
) -> None:
    router = running["call-router"]
    a, b, vendor = clinics
    t = Tokens.issue(stack, a, b)
    db = stack.database_url("call-router")
    call = _call(a)
    message = _message(a, vendor, "routine")
    caller = uid("tok")
    await send_events(stack.bootstrap, [call])
    await _vendor_topic_ready(stack, vendor)
    await send_events(stack.bootstrap, [message], topic=vendor_events_topic(vendor))  # the vendor's own topic
    async with router.client(timeout=30) as http:

        async def call_known() -> bool:
            return (await http.get(f"/v1/calls/{call.call_id}")).status_code == 200

        await _until(call_known, "call-router never recorded the call")
    [digest] = await _until(
        lambda: query(db, "SELECT digest_id FROM message_digests WHERE clinic_id = $1", a), "no digest for clinic A"
    )
    await _bring_forward(stack, f"digest:{digest['digest_id']}")  # "the clinic opens": the message is delivered
    await _message_row(router, message.message_id, lambda m: m["status"] != "pending")

    async def acknowledgement() -> Any:
        return await query(
            db, "SELECT status, acknowledged_by FROM vendor_messages WHERE message_id = $1", message.message_id
        )

    async def caller_on_file() -> Any:
        return await query(db, "SELECT 1 FROM callers WHERE clinic_id = $1 AND caller_token = $2", a, caller)

    ops = [
        Op("GET", "/v1/clinics", "/v1/clinics", b_sees_none_of_a=lambda body: a not in {c["clinic_id"] for c in body}),
        Op("GET", "/v1/calls/{call_id}", f"/v1/calls/{call.call_id}"),
        Op("GET", "/v1/clinics/{clinic_id}/agents", f"/v1/clinics/{a}/agents"),
        Op("GET", "/v1/clinics/{clinic_id}/metrics", f"/v1/clinics/{a}/metrics", params={"hours": "2"}),
        Op("GET", "/v1/clinics/{clinic_id}/staffing", f"/v1/clinics/{a}/staffing", params={"weeks": "1"}),
        Op(
            "POST",
            "/v1/clinics/{clinic_id}/staffing/forecasts",
            f"/v1/clinics/{a}/staffing/forecasts",
            json={"weeks": 1},
        ),
        Op("GET", "/v1/messages/{message_id}", f"/v1/messages/{message.message_id}"),
        Op("GET", "/v1/clinics/{clinic_id}/digest", f"/v1/clinics/{a}/digest"),
        Op(
            "POST",
            "/v1/clinics/{clinic_id}/digest/{message_id}/acknowledgements",
            f"/v1/clinics/{a}/digest/{message.message_id}/acknowledgements",
            state=acknowledgement,
        ),
        Op(
            "PUT",
            "/v1/clinics/{clinic_id}/callers/{caller_token}",
            f"/v1/clinics/{a}/callers/{caller}",
            json={"phone_number": "+14155550123"},
            state=caller_on_file,
        ),
        Op(
            "DELETE",
            "/v1/clinics/{clinic_id}/callers/{caller_token}",
            f"/v1/clinics/{a}/callers/{caller}",
            state=caller_on_file,
        ),
    ]
    await check_matrix(router, ops, t)
    [acknowledged] = await acknowledgement()
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"].endswith("-a")  # A's subject
    assert await caller_on_file() == []
    async with httpx.AsyncClient(base_url=router.url, timeout=30) as http:
        # B's own clinic in the path, A's message: unknown there.
        ack = await http.post(f"/v1/clinics/{b}/digest/{message.message_id}/acknowledgements", headers=t.b)
        assert ack.status_code == 404


@pytest.fixture(scope="module")
def limited(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[ServiceProcess]:
    with replica_with_limits(stack, "call-router", {"call-reports": 2}) as replica:
        yield replica


async def test_reports_are_rate_limited(
    stack: LocalStack, limited: ServiceProcess, clinics: tuple[str, str, str]
) -> None:
    a, b, _ = clinics
    t = Tokens.issue(stack, a, b)
    async with httpx.AsyncClient(base_url=limited.url, timeout=30, headers=t.a) as http:

        async def metrics() -> httpx.Response:
            return await http.get(f"/v1/clinics/{a}/metrics")

        await exceed_then_recover(metrics, 2)
