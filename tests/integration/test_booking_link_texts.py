"""A booking link texted to a caller (issue #20, item 3), over the real broker, databases and services:
the answering service (or the callback flow) asks the scheduler's booking-links API for a link with the
caller's number; followup texts it under the contact rules; the number is sealed on the topic, and the
link in the SMS opens the clinic's booking page. An opted-out number gets nothing, a second link the
same day waits for the number's cap, a link asked for at night waits for the morning; a request that is
wrong is a clear 4xx and texts nobody."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from frontdesk.testing.followup import signed_post, zone_where_local_hour_in
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_online_booking import booking_clinic
from .test_patient_loops import WAIT, known_everywhere, phone_of

pytestmark = pytest.mark.integration


async def _ask(
    scheduler: ServiceProcess, token: str, clinic_id: str, body: Any, key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key or uid("k")}
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=30) as api:
        return await api.post(f"/v1/clinics/{clinic_id}/booking-links", json=body, headers=headers)


async def _texted(stack: LocalStack, phone: str) -> str:
    """The booking link's SMS to `phone`, once it has gone out (the local sink keeps what it delivered)."""
    deadline = time.monotonic() + WAIT
    while not (
        rows := await query(
            stack.database_url("followup"),
            "SELECT body FROM sink_deliveries WHERE address = $1 AND idempotency_key LIKE 'fd-booking-link-%'",
            phone,
        )
    ):
        assert time.monotonic() < deadline, "the booking link was never texted"
        await asyncio.sleep(0.3)
    [row] = rows
    return str(row["body"])


async def _link_rows(stack: LocalStack, clinic_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while True:
        rows = await query(
            stack.database_url("followup"),
            "SELECT link_id, status, reason, number_digest FROM booking_link_messages WHERE clinic_id = $1"
            " ORDER BY decided_at",
            clinic_id,
        )
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"booking links decided: {len(rows)} of {count}"
        await asyncio.sleep(0.3)


async def _waiting(stack: LocalStack, link_id: str) -> list[dict[str, Any]]:
    """The durable timer a deferred text waits on (its payload: the sealed event only)."""
    deadline = time.monotonic() + WAIT
    while not (
        rows := await query(
            stack.database_url("followup"),
            "SELECT due_at, payload::text AS payload FROM timers WHERE kind = 'booking_link_send'"
            " AND payload->'event'->>'link_id' = $1",
            link_id,
        )
    ):
        assert time.monotonic() < deadline, "the text never waited"
        await asyncio.sleep(0.3)
    return rows


async def test_the_answering_service_has_a_booking_link_texted_to_a_caller(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler, followup = running["scheduler"], running["followup"]
    config = booking_clinic(uid("blink"), zone=zone_where_local_hour_in(10, 18), online="link")
    await known_everywhere(stack, running, config)
    vendor = stack.api_token(clinics=[config.clinic_id], subject=uid("answering"))
    phone = phone_of(61)
    async with EventTap(stack.bootstrap, ["booking.link_requested"]) as tap:
        key = uid("k")
        issued = await _ask(scheduler, vendor, config.clinic_id, {"send_to": phone}, key)
        assert issued.status_code == 201, issued.text
        answer = issued.json()
        assert answer["text_requested"] is True and phone not in issued.text
        again = await _ask(scheduler, vendor, config.clinic_id, {"send_to": phone}, key)
        assert again.json() == answer  # the same key: the same link, texted once
        body = await _texted(stack, phone)
        await tap.settle(2)
    [requested] = [e for e in tap.events if e.data.clinic_id == config.clinic_id]  # type: ignore[attr-defined]
    raw = b"".join(r.value or b"" for r in tap.raw)
    assert phone.encode() not in raw and phone[2:].encode() not in raw  # sealed on the topic
    assert body.startswith("Lakeside Family Practice: as you asked, book your visit here: https://")
    assert "(works once, until " in body and len(body) <= 160
    # The SMS's short link leads to the very link the API answered, which opens the booking page.
    [short] = [w for w in body.split() if w.startswith("https://")]
    async with httpx.AsyncClient(timeout=10) as http:
        redirect = await http.get(f"{followup.url}/l/{short.rsplit('/', 1)[1]}")
        assert redirect.status_code == 302 and redirect.headers["location"] == answer["url"]
        page = await http.get(scheduler.url + urlsplit(answer["url"]).path)
        assert page.status_code == 200 and "Lakeside Family Practice" in page.text
    [row] = await _link_rows(stack, config.clinic_id, 1)
    assert (row["link_id"], row["status"]) == (requested.data.link_id, "sent")  # type: ignore[attr-defined]
    assert phone not in row["number_digest"]
    # A second link to the same number the same day waits for the number's cap (one a day).
    later = await _ask(scheduler, vendor, config.clinic_id, {"send_to": phone})
    link_id = urlsplit(later.json()["url"]).path.rsplit("/", 1)[1].split(".")[0]
    [waiting] = await _waiting(stack, link_id)
    assert phone not in waiting["payload"] and phone[2:] not in waiting["payload"]  # sealed at rest too
    [clock] = await query(stack.database_url("followup"), "SELECT now() AS t")
    assert (waiting["due_at"] - clock["t"]).total_seconds() > 20 * 3600


async def test_an_opted_out_number_gets_nothing_and_night_waits_for_the_morning(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler, followup = running["scheduler"], running["followup"]
    config = booking_clinic(uid("blink"), zone=zone_where_local_hour_in(10, 18), online="link")
    night = booking_clinic(uid("blink"), zone=zone_where_local_hour_in(0, 5), online="link")
    for clinic in (config, night):
        await known_everywhere(stack, running, clinic)
    stopped = phone_of(62)
    patient = uid("pat")
    async with httpx.AsyncClient(timeout=30, headers=followup.auth_headers) as fu:
        contact = {"phone": stopped, "consents": {"treatment": True}}
        assert (await fu.put(f"{followup.url}/v1/patients/{patient}/contact", json=contact)).is_success
    assert (await signed_post(followup.url + "/v1/webhooks/sms", {"from": stopped, "text": "STOP"})).is_success
    token = stack.api_token(clinics=[config.clinic_id, night.clinic_id], subject=uid("callback-flow"))
    assert (await _ask(scheduler, token, config.clinic_id, {"send_to": stopped})).status_code == 201
    [row] = await _link_rows(stack, config.clinic_id, 1)
    assert (row["status"], row["reason"]) == ("skipped", "opted_out")
    texted = await query(
        stack.database_url("followup"),
        "SELECT 1 FROM sink_deliveries WHERE address = $1 AND idempotency_key LIKE 'fd-booking-link-%'",
        stopped,
    )
    assert texted == []
    # At night in the clinic's zone the text waits for the morning (federal rule: 08:00 local).
    issued = await _ask(scheduler, token, night.clinic_id, {"send_to": phone_of(63)})
    link_id = urlsplit(issued.json()["url"]).path.rsplit("/", 1)[1].split(".")[0]
    [waiting] = await _waiting(stack, link_id)
    local = waiting["due_at"].astimezone(night.zone)
    assert (local.hour, local.minute) == (8, 0)


async def test_wrong_requests_are_clear_4xx_and_text_nobody(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler = running["scheduler"]
    off = booking_clinic(uid("blink"), online="off")
    config = booking_clinic(uid("blink"), online="link")
    for clinic in (off, config):
        await known_everywhere(stack, running, clinic)
    token = stack.api_token(clinics=[off.clinic_id, config.clinic_id], subject=uid("answering"))
    async with EventTap(stack.bootstrap, ["booking.link_requested"]) as tap:
        for bad in ("4155550123", "+1 415 555 0123", "+0123456789", "", 14155550123):
            refused = await _ask(scheduler, token, config.clinic_id, {"send_to": bad})
            assert refused.status_code == 422, (bad, refused.text)
        extra = await _ask(scheduler, token, config.clinic_id, {"send_to": phone_of(64), "name": "Lou"})
        assert extra.status_code == 422
        closed = await _ask(scheduler, token, off.clinic_id, {"send_to": phone_of(64)})
        assert closed.status_code == 409 and closed.json()["reason"] == "online_booking_off"
        other = stack.api_token(clinics=["somewhere-else"], subject=uid("answering"))
        assert (await _ask(scheduler, other, config.clinic_id, {"send_to": phone_of(64)})).status_code == 403
        plain = await _ask(scheduler, token, config.clinic_id, None)  # no body: the link only, as before
        assert plain.status_code == 201 and plain.json()["text_requested"] is False
        await tap.settle(2)
    assert not [e for e in tap.events if e.data.clinic_id in (off.clinic_id, config.clinic_id)]  # type: ignore[attr-defined]
