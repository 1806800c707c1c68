"""Answering-service vendor messages over the real broker and database.

Proves: an urgent message (on the vendor's own `vendor.<id>.events`) pages the first on-call
provider (on the shared topic and on the vendor's own `vendor.<id>.calls`), re-sends and escalates
along the roster through durable timers, and stops once the provider acknowledges; routine messages
wait for the clinic's next opening (in its own zone), are released as one digest and acknowledged by
staff over HTTP, with events; a vendor cannot act for a clinic it does not serve, speak as another
vendor, nor acknowledge another vendor's page: those records are dead-lettered on its own
`vendor.<id>.events.dlq` with the reason. Timers are brought forward by moving their due_at in the
database (nobody waits two minutes for a re-send).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import (
    ClinicConfig,
    Event,
    VendorMessageTaken,
    VendorPageAcknowledged,
    VendorPageSent,
    vendor_calls_topic,
    vendor_events_topic,
)
from frontdesk.common.contracts.registry import dlq_topic
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

NY = "America/New_York"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def _clinic(stack: LocalStack, router: ServiceProcess, vendor: str, hours: dict[str, Any], **phone: Any) -> str:
    clinic_id = uid("crm")
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Vendor Message Clinic",
            "timezone": NY,
            "hours": hours,
            "phone": {"answering_service": vendor, "vendors": [{"vendor_id": vendor}], **phone},
        }
    )
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        while clinic_id not in {c["clinic_id"] for c in (await client.get(router.url + "/v1/clinics")).json()}:
            assert time.monotonic() < deadline, "call-router never learned the clinic"
            await asyncio.sleep(0.2)
    return clinic_id


async def _vendor_topic_ready(stack: LocalStack, vendor_id: str) -> None:
    deadline = time.monotonic() + 60
    while not await query(
        stack.database_url("call-router"), "SELECT 1 FROM vendor_topics WHERE vendor_id = $1 AND ready", vendor_id
    ):
        assert time.monotonic() < deadline, f"the topic of {vendor_id} was never provisioned"
        await asyncio.sleep(0.3)


def _message(clinic_id: str, vendor_id: str, urgency: str, **kw: Any) -> VendorMessageTaken:
    fields: dict[str, Any] = {
        "message_id": uid("msg"),
        "vendor_id": vendor_id,
        "clinic_id": clinic_id,
        "caller_token": uid("tok"),
        "urgency": urgency,
        "category": "clinical_question" if urgency == "urgent" else "refill",
        "taken_at": datetime.now(UTC),
        **kw,
    }
    return VendorMessageTaken.model_validate(fields)


def _pages(message_id: str) -> Any:
    def match(e: Envelope[Event]) -> bool:
        return e.type == "oncall.page_requested" and getattr(e.data, "message_id", None) == message_id

    return match


async def _bring_forward(stack: LocalStack, key_like: str) -> None:
    """Make the pending timer(s) due now, once the router has set them."""
    url = stack.database_url("call-router")
    deadline = time.monotonic() + 60
    while not await query(url, "SELECT 1 FROM timers WHERE timer_key LIKE $1", key_like):
        assert time.monotonic() < deadline, f"no timer {key_like}"
        await asyncio.sleep(0.2)
    await query(url, "UPDATE timers SET due_at = now() WHERE timer_key LIKE $1", key_like)


async def _message_row(router: ServiceProcess, message_id: str, until: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(headers=router.auth_headers) as client:
        while True:
            response = await client.get(f"{router.url}/v1/messages/{message_id}")
            if response.status_code == 200 and until(response.json()):
                body: dict[str, Any] = response.json()
                return body
            assert time.monotonic() < deadline, response.text
            await asyncio.sleep(0.2)


async def test_an_urgent_message_pages_and_escalates_until_acknowledged(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    vendor = uid("vend-m")
    roster = [
        {"provider_id": "dr-a", "resend_every_seconds": 120, "escalate_after_seconds": 240},
        {"provider_id": "dr-b", "channel": "mobile", "resend_every_seconds": 120, "escalate_after_seconds": 600},
    ]
    clinic_id = await _clinic(stack, router, vendor, {}, on_call=roster)
    await _vendor_topic_ready(stack, vendor)
    message = _message(clinic_id, vendor, "urgent", callback_needed=True)
    topics = ["oncall.page_requested", "callback.requested", vendor_calls_topic(vendor)]
    own = vendor_events_topic(vendor)
    async with EventTap(stack.bootstrap, topics) as tap:
        await send_events(stack.bootstrap, [message], topic=own)
        first = await tap.wait_for(_pages(message.message_id), count=2, timeout=60)  # shared + the vendor's topic
        assert {e.data.provider_id for e in first} == {"dr-a"}  # type: ignore[attr-defined]
        assert {(e.data.step, e.data.resend, e.data.escalated) for e in first} == {(0, 0, False)}  # type: ignore[attr-defined]
        [callback] = await tap.wait_for(
            lambda e: (
                e.type == "callback.requested" and getattr(e.data, "callback_id", None) == f"cb-{message.message_id}"
            )
        )
        assert (callback.data.reason, callback.data.urgency) == ("vendor_message", "urgent")  # type: ignore[attr-defined]
        await send_events(
            stack.bootstrap,
            [
                VendorPageSent(
                    page_id=first[0].data.page_id,  # type: ignore[attr-defined]
                    message_id=message.message_id,
                    vendor_id=vendor,
                    clinic_id=clinic_id,
                    provider_id="dr-a",
                    sent_at=datetime.now(UTC),
                )
            ],
            topic=own,
        )
        # Nobody acknowledges: the 2-minute re-send to dr-a, then the escalation to dr-b's mobile.
        await _bring_forward(stack, f"page:{message.message_id}:%")
        resent = await tap.wait_for(lambda e: _pages(message.message_id)(e) and e.data.resend == 1, count=2, timeout=60)  # type: ignore[attr-defined]
        assert {(e.data.provider_id, e.data.step) for e in resent} == {("dr-a", 0)}  # type: ignore[attr-defined]
        await _bring_forward(stack, f"page:{message.message_id}:%")
        escalated = await tap.wait_for(
            lambda e: _pages(message.message_id)(e) and getattr(e.data, "step", None) == 1, count=2, timeout=60
        )
        assert {(e.data.provider_id, e.data.channel, e.data.escalated) for e in escalated} == {("dr-b", "mobile", True)}  # type: ignore[attr-defined]
        # Every page also went to the vendor's own topic: the vendor delivers pages.
        assert len([r for r in tap.raw if r.topic == vendor_calls_topic(vendor)]) >= 3
        # dr-b acknowledges, stamped by a vendor clock a day ahead: paging stops, no timer is left to
        # fire, and the time to acknowledge is the router's to vouch for (never a day long).
        await send_events(
            stack.bootstrap,
            [
                VendorPageAcknowledged(
                    message_id=message.message_id,
                    vendor_id=vendor,
                    clinic_id=clinic_id,
                    provider_id="dr-b",
                    acknowledged_at=datetime.now(UTC) + timedelta(days=1),
                )
            ],
            topic=own,
        )
        row = await _message_row(router, message.message_id, lambda m: m["status"] == "acknowledged")
        assert (row["acknowledged_by"], row["pages_requested"], row["pages_sent"]) == ("dr-b", 3, 1)
        [stored] = await query(
            stack.database_url("call-router"),
            "SELECT paging_started_at, acknowledged_at FROM vendor_messages WHERE message_id = $1",
            message.message_id,
        )
        assert stored["paging_started_at"] <= stored["acknowledged_at"] <= datetime.now(UTC)
        left = await query(
            stack.database_url("call-router"),
            "SELECT 1 FROM timers WHERE timer_key LIKE $1",
            f"page:{message.message_id}:%",
        )
        assert left == []


def _next_opening(zone: str, days_ahead: int, local: str) -> tuple[str, datetime]:
    """A weekday `days_ahead` days from today (in the zone) and its opening instant in UTC."""
    tz = ZoneInfo(zone)
    day = (datetime.now(tz) + timedelta(days=days_ahead)).date()
    hour, minute = (int(x) for x in local.split(":"))
    opening = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    return WEEKDAYS[day.weekday()], opening.astimezone(UTC)


async def test_routine_messages_are_released_at_opening_and_acknowledged_by_staff(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    vendor = uid("vend-r")
    weekday, opens_at = _next_opening(NY, 2, "08:30")  # the clinic opens only on that weekday
    clinic_id = await _clinic(stack, router, vendor, {weekday: ["08:30-17:00"]})
    await _vendor_topic_ready(stack, vendor)
    first = _message(clinic_id, vendor, "routine", callback_needed=True)
    second = _message(clinic_id, vendor, "routine", category="results")
    url = stack.database_url("call-router")
    topics = ["answering.digest_released", "answering.message_acknowledged", "callback.requested"]
    async with EventTap(stack.bootstrap, topics) as tap, httpx.AsyncClient(headers=router.auth_headers) as client:
        await send_events(stack.bootstrap, [first, second], topic=vendor_events_topic(vendor))
        [callback] = await tap.wait_for(
            lambda e: getattr(e.data, "callback_id", None) == f"cb-{first.message_id}", timeout=60
        )
        assert (callback.data.reason, callback.data.urgency) == ("vendor_message", "routine")  # type: ignore[attr-defined]
        await _message_row(router, second.message_id, lambda m: m["status"] == "pending")
        [digest] = await query(url, "SELECT * FROM message_digests WHERE clinic_id = $1", clinic_id)
        assert digest["due_at"] == opens_at  # the next opening, in New York time (DST-aware)
        [timer] = await query(url, "SELECT due_at FROM timers WHERE timer_key = $1", f"digest:{digest['digest_id']}")
        assert timer["due_at"] == opens_at
        base = f"{router.url}/v1/clinics/{clinic_id}/digest"
        assert (await client.get(base)).json()["messages"] == []
        staff_1 = {"Authorization": f"Bearer {stack.api_token(subject='staff-1')}"}
        staff_2 = {"Authorization": f"Bearer {stack.api_token(subject='staff-2')}"}
        early = await client.post(f"{base}/{first.message_id}/acknowledgements", headers=staff_1)
        assert early.status_code == 409, early.text

        await _bring_forward(stack, f"digest:{digest['digest_id']}")  # "the clinic opens"
        [released] = await tap.wait_for(
            lambda e: e.type == "answering.digest_released" and getattr(e.data, "clinic_id", None) == clinic_id,
            timeout=60,
        )
        assert released.data.message_ids == [first.message_id, second.message_id]  # type: ignore[attr-defined]
        listed = (await client.get(base)).json()["messages"]
        assert [m["message_id"] for m in listed] == [first.message_id, second.message_id]
        assert {m["category"] for m in listed} == {"refill", "results"}

        bad = await client.post(f"{base}/{first.message_id}/acknowledgements", json={"staff_id": "has space"})
        assert bad.status_code == 422
        # Who acknowledges is the token's subject: a body naming someone else is refused (issue 16, item 12).
        impostor = await client.post(
            f"{base}/{first.message_id}/acknowledgements", json={"staff_id": "staff-2"}, headers=staff_1
        )
        assert impostor.status_code == 403, impostor.text
        ack = await client.post(f"{base}/{first.message_id}/acknowledgements", headers=staff_1)
        assert ack.status_code == 200 and not ack.json()["already_acknowledged"], ack.text
        [event] = await tap.wait_for(
            lambda e: (
                e.type == "answering.message_acknowledged" and getattr(e.data, "message_id", None) == first.message_id
            ),
            timeout=60,
        )
        assert (event.data.staff_id, event.data.digest_id) == ("staff-1", digest["digest_id"])  # type: ignore[attr-defined]
        again = await client.post(f"{base}/{first.message_id}/acknowledgements", headers=staff_2)
        assert again.json()["already_acknowledged"] and again.json()["acknowledged_by"] == "staff-1"
        assert [m["message_id"] for m in (await client.get(base)).json()["messages"]] == [second.message_id]
        everything = (await client.get(base, params={"include_acknowledged": "true"})).json()["messages"]
        assert len(everything) == 2
        missing = await client.post(f"{base}/nope/acknowledgements", json={"staff_id": "staff-1"}, headers=staff_1)
        assert missing.status_code == 404


async def _dead_letters(tap: EventTap, event_ids: list[str], timeout: float = 60) -> dict[str, str]:
    """event id -> dlq_reason, once every one of `event_ids` is on the tapped dead-letter topics."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            headers["ce_id"].decode(): headers["dlq_reason"].decode()
            for headers in (dict(r.headers) for r in tap.raw)
            if headers.get("ce_id", b"").decode() in event_ids
        }
        if len(found) == len(event_ids):
            return found
        assert time.monotonic() < deadline, f"dead letters seen: {found}"
        await tap.poll()


async def test_a_vendor_acts_only_for_the_clinics_it_serves(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    vendor_a, vendor_b = uid("vend-ia"), uid("vend-ib")
    roster = [{"provider_id": "dr-a"}]
    clinic_a = await _clinic(stack, router, vendor_a, {}, on_call=roster)
    await _clinic(stack, router, vendor_b, {}, on_call=roster)
    await _vendor_topic_ready(stack, vendor_a)
    await _vendor_topic_ready(stack, vendor_b)
    topic_a, topic_b = vendor_events_topic(vendor_a), vendor_events_topic(vendor_b)
    async with EventTap(stack.bootstrap, [dlq_topic(topic_a), dlq_topic(topic_b)]) as dlq:
        # Vendor B speaks for clinic A (which it does not serve), and as vendor A, on its own topic.
        foreign = _message(clinic_a, vendor_b, "urgent")
        posing = _message(clinic_a, vendor_a, "urgent")
        [foreign_id, posing_id] = await send_events(stack.bootstrap, [foreign, posing], topic=topic_b)
        own = _message(clinic_a, vendor_a, "urgent")
        await send_events(stack.bootstrap, [own], topic=topic_a)
        await _message_row(router, own.message_id, lambda m: m["status"] == "paging")
        reasons = await _dead_letters(dlq, [foreign_id, posing_id])
        assert "the vendor does not serve the clinic" in reasons[foreign_id]
        assert f"names vendor {vendor_a} on the topic of vendor {vendor_b}" in reasons[posing_id]
        async with httpx.AsyncClient(headers=router.auth_headers) as client:
            for refused in (foreign, posing):
                response = await client.get(f"{router.url}/v1/messages/{refused.message_id}")
                assert response.status_code == 404
        # Vendor B cannot acknowledge A's page either: the acknowledgement that counts is A's.
        now = datetime.now(UTC)
        [bad_ack] = await send_events(
            stack.bootstrap,
            [
                VendorPageAcknowledged(
                    message_id=own.message_id,
                    vendor_id=vendor_b,
                    clinic_id=clinic_a,
                    provider_id="dr-x",
                    acknowledged_at=now,
                )
            ],
            topic=topic_b,
        )
        reasons = await _dead_letters(dlq, [bad_ack])
        assert "the message belongs to another vendor or clinic" in reasons[bad_ack]
        assert (await _message_row(router, own.message_id, lambda m: True))["status"] == "paging"
        await send_events(
            stack.bootstrap,
            [
                VendorPageAcknowledged(
                    message_id=own.message_id,
                    vendor_id=vendor_a,
                    clinic_id=clinic_a,
                    provider_id="dr-a",
                    acknowledged_at=now,
                )
            ],
            topic=topic_a,
        )
        row = await _message_row(router, own.message_id, lambda m: m["status"] == "acknowledged")
        assert row["acknowledged_by"] == "dr-a"
