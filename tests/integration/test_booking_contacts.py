"""After the booking page, over the real broker, databases and services: the patient who booked there
is reached (the number their code reached becomes their contact in followup, sealed on the topic, with
their consent to treatment messages; the scheduler's reminder goes to it; the visit's follow-up is
planned), once however often the events are played again; and a code that cannot be texted is said on
the page at once (a number the provider refuses, a delivery receipt saying undelivered), the held time
released, while a provider failing for a moment only delays the code."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from frontdesk.common.contracts import AppointmentReminderDue, BookingContactVerified
from frontdesk.testing.followup import signed_post, zone_where_local_hour_in
from frontdesk.testing.helpers import query, send_events, send_raw, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_online_booking import Patient, booking_clinic, code_sent, hidden, hold, pages, slots, times_for
from .test_patient_loops import WAIT, known_everywhere, phone_of

pytestmark = pytest.mark.integration
__all__ = ["pages"]  # the fixture, shared

NOT_TEXTED = "We could not text a code to"


def failing_phone() -> str:
    """A number the local sink refuses for good (it ends in 000), as a provider refuses a landline."""
    return f"+1555{secrets.randbelow(10_000):04d}000"


def display(phone: str) -> str:
    return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"


def code_form(entry: str, held: httpx.Response, picked: str) -> dict[str, str]:
    """The code step's form as the page gave it (its hidden fields)."""
    names = ("session", "phone", "name", "slot", "claim", "type", "provider")
    return {"entry": entry, **{n: hidden(held.text, n) for n in names}, "slot": picked}


async def until(probe: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll `probe()` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (found := await probe()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)
    return found


async def followup_rows(stack: LocalStack, sql: str, *args: Any) -> list[dict[str, Any]]:
    return await query(stack.database_url("followup"), sql, *args)


async def test_a_page_booking_gets_its_reminder_at_the_verified_number_and_replays_change_nothing(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    # Open all day, times every 5 minutes, a reminder 1..6 minutes before: one falls due within a minute,
    # in a zone where it is day now (a reminder due in quiet hours rightly waits for the morning).
    offsets = [f"PT{m}M" for m in range(1, 7)]
    zone = zone_where_local_hour_in(10, 18)
    config = booking_clinic(uid("book"), zone, hours="00:00-23:59", slot_step_minutes=5, reminder_offsets=offsets)
    await known_everywhere(stack, running, config)
    phone = phone_of(50)
    topics = ["booking.contact_verified", "appointment.booked", "appointment.reminder_due", "followup.scheduled"]
    async with httpx.AsyncClient(timeout=30) as client, EventTap(stack.bootstrap, topics) as tap:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        soon = datetime.now().astimezone() + timedelta(seconds=100)
        picked = next(s for s in slots(times) if datetime.fromisoformat(s.split("|")[1]) >= soon)
        held = await hold(p, entry, picked, "Noor Haddad", display(phone))
        assert held.status_code == 200, held.text
        [code] = await code_sent(stack, phone)
        booked = await p.post("/p/book/code", {**code_form(entry, held, picked), "code": code})
        assert booked.status_code == 200 and "You are booked" in booked.text

        [verified] = await tap.wait_for(lambda e: e.type == "booking.contact_verified", timeout=WAIT)
        [appointment] = await tap.wait_for(lambda e: e.type == "appointment.booked", timeout=WAIT)
        patient_id = appointment.data.patient_id
        assert verified.data.patient_id == patient_id and verified.data.registered_by == [config.clinic_id]
        raw = b"".join(r.value or b"" for r in tap.raw)
        assert phone.encode() not in raw and phone[2:].encode() not in raw  # sealed on the topic

        # (a) followup has the verified number and the consent it is evidence of; the reminder goes there.
        reminder = await until(
            lambda: followup_rows(
                stack,
                "SELECT d.address, d.body FROM sink_deliveries d JOIN messages m USING (idempotency_key)"
                " WHERE m.patient_id = $1 AND m.template = 'appointment-reminder-link'",
                patient_id,
            ),
            "the reminder was never sent",
        )
        assert [r["address"] for r in reminder] == [phone] and "Lakeside Family Practice" in reminder[0]["body"]
        [contact] = await followup_rows(stack, "SELECT phone FROM contacts WHERE patient_id = $1", patient_id)
        assert contact["phone"] == phone
        ledger = await followup_rows(
            stack, "SELECT purpose, opted_in, source FROM consent_ledger WHERE patient_id = $1", patient_id
        )
        assert ledger == [{"purpose": "treatment", "opted_in": True, "source": "self_service_verified"}]
        registered = await followup_rows(
            stack, "SELECT clinic_id FROM patient_clinics WHERE patient_id = $1", patient_id
        )
        assert registered == [{"clinic_id": config.clinic_id}]
        async with running["followup"].client(timeout=10) as api:
            view = (await api.get(f"/v1/patients/{patient_id}/consent")).json()
        assert view["has_phone"] and view["consent"]["treatment"] == "granted" and phone not in str(view)

        # The visit's follow-up is planned for the same patient (it goes out the next day, by the same path).
        async with running["scheduler"].client(timeout=10) as api:
            done = await api.post(
                f"/v1/appointments/{appointment.data.appointment_id}/complete",
                json={},
                headers={"Idempotency-Key": uid("k")},
            )
            assert done.status_code == 200, done.text
        await tap.wait_for(
            lambda e: e.type == "followup.scheduled" and e.data.patient_id == patient_id and e.data.kind == "check_in",
            timeout=WAIT,
        )

        # (b) The events played again, as they were (same ids) and as new ones: nothing twice.
        [due] = tap.matching(lambda e: e.type == "appointment.reminder_due" and e.data.patient_id == patient_id)[:1]
        records = [r for r in tap.raw if r.topic in ("booking.contact_verified", "appointment.reminder_due")]
        await send_raw(stack.bootstrap, [(r.topic, r.key, r.value, list(r.headers)) for r in records])
        assert isinstance(verified.data, BookingContactVerified) and isinstance(due.data, AppointmentReminderDue)
        ids = await send_events(stack.bootstrap, [verified.data, due.data])
        await until(
            lambda: followup_rows(
                stack,
                "SELECT 1 FROM inbox WHERE event_id = ANY($1::text[]) HAVING count(*) = 2",
                ids,
            ),
            "the replays were never consumed",
        )
    assert await followup_rows(stack, "SELECT count(*) AS n FROM contacts WHERE phone = $1", phone) == [{"n": 1}]
    assert len(await followup_rows(stack, "SELECT 1 FROM consent_ledger WHERE patient_id = $1", patient_id)) == 1
    deliveries = await followup_rows(
        stack,
        "SELECT d.idempotency_key FROM sink_deliveries d JOIN messages m USING (idempotency_key)"
        " WHERE m.patient_id = $1 AND m.template = 'appointment-reminder-link'",
        patient_id,
    )
    assert len(deliveries) == 1
    outcomes = await followup_rows(stack, "SELECT outcome FROM verified_contacts WHERE patient_id = $1", patient_id)
    assert outcomes == [{"outcome": "number_added"}]


async def test_an_existing_patient_keeps_the_number_their_clinic_registered(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    patient_id, on_page, on_file = uid("pat"), phone_of(51), phone_of(52)
    token = {"Authorization": f"Bearer {stack.api_token(clinics=[config.clinic_id])}"}
    async with httpx.AsyncClient(timeout=30, headers=token) as api:
        put = await api.put(
            f"{running['scheduler'].url}/v1/patients/{patient_id}",
            json={"display_name": "Kai Moreau", "phone": on_page},
            headers={"Idempotency-Key": uid("k")},
        )
        assert put.status_code == 200, put.text
        registered = await api.put(
            f"{running['followup'].url}/v1/patients/{patient_id}/contact", json={"phone": on_file, "consents": {}}
        )
        assert registered.status_code == 200, registered.text
    async with httpx.AsyncClient(timeout=30) as client:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book", claim="existing")
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Kai Moreau", on_page, claim="existing")
        [code] = await code_sent(stack, on_page)
        booked = await p.post("/p/book/code", {**code_form(entry, held, picked), "code": code})
        assert booked.status_code == 200 and "You are booked" in booked.text, booked.text
    [outcome] = await until(
        lambda: followup_rows(stack, "SELECT outcome FROM verified_contacts WHERE patient_id = $1", patient_id),
        "the verified number was never weighed",
    )
    assert outcome["outcome"] == "other_number_on_file"
    assert await followup_rows(stack, "SELECT phone FROM contacts WHERE patient_id = $1", patient_id) == [
        {"phone": on_file}
    ]
    assert await followup_rows(stack, "SELECT 1 FROM consent_ledger WHERE patient_id = $1", patient_id) == []


async def test_a_code_that_cannot_be_texted_is_said_on_the_page_and_the_time_released(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    phone = failing_phone()
    async with httpx.AsyncClient(timeout=30) as client, EventTap(stack.bootstrap, ["booking.code_failed"]) as tap:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Ines Duarte", phone)
        assert held.status_code == 200 and "No code yet?" in held.text
        form = code_form(entry, held, picked)
        [failed] = await tap.wait_for(lambda e: e.data.verification_id == form["session"], timeout=WAIT)
        assert failed.data.reason == "undeliverable" and failed.data.clinic_id == config.clinic_id
        assert phone[2:].encode() not in b"".join(r.value or b"" for r in tap.raw)

        # The scheduler consumes the report a moment after it is on the topic: the page says it from then on.
        status = await until(lambda: _failed_page(p, form), "the page never said the code could not be texted")
        assert display(phone) in status.text
        assert "has been released" in status.text and "call the practice" in status.text
        typed = await p.post("/p/book/code", {**form, "code": "123456"})  # a code typed anyway: the same answer
        assert typed.status_code == 410 and NOT_TEXTED in typed.text

        # "Check the number and try again": the times, with what they typed; the same time, held anew.
        again = await p.post(
            "/p/book/times",
            {k: hidden(status.text, k) for k in ("entry", "claim", "type", "provider", "name", "phone", "slot")},
        )
        assert again.status_code == 200 and picked in slots(again.text) and display(phone) in again.text
        retry = await hold(p, hidden(again.text, "entry"), picked, "Ines Duarte", phone_of(53))
        assert retry.status_code == 200 and "holding this time" in retry.text
    [attempt] = await query(
        stack.database_url("scheduler"),
        "SELECT v.status, v.code_failure, a.status AS hold, a.status_reason FROM booking_verifications v"
        " JOIN appointments a USING (appointment_id) WHERE v.verification_id = $1",
        form["session"],
    )
    assert attempt == {
        "status": "undelivered",
        "code_failure": "undeliverable",
        "hold": "cancelled",
        "status_reason": "hold_released",
    }


async def test_a_code_reported_undelivered_after_it_went_is_said_on_the_page(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    phone = phone_of(54)
    async with httpx.AsyncClient(timeout=30) as client, EventTap(stack.bootstrap, ["booking.code_failed"]) as tap:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        held = await hold(p, entry, slots(times)[0], "Ola Berg", phone)
        form = code_form(entry, held, slots(times)[0])
        await code_sent(stack, phone)
        waiting = await p.post("/p/book/status", form)
        assert waiting.status_code == 200 and "not been told of any problem" in waiting.text
        [row] = await followup_rows(
            stack, "SELECT provider_message_id FROM booking_code_messages WHERE verification_id = $1", form["session"]
        )
        receipts = running["followup"].url + "/v1/webhooks/receipts"
        ok = await signed_post(receipts, {"provider_message_id": row["provider_message_id"], "status": "delivered"})
        assert ok.status_code == 200, ok.text
        bad = await signed_post(receipts, {"provider_message_id": row["provider_message_id"], "status": "undelivered"})
        assert bad.status_code == 200, bad.text
        [failed] = await tap.wait_for(lambda e: e.data.verification_id == form["session"], timeout=WAIT)
        assert failed.data.reason == "undeliverable"
        status = await until(lambda: _failed_page(p, form), "the page never said the code could not be texted")
        assert display(phone) in status.text
        again = await signed_post(receipts, {"provider_message_id": row["provider_message_id"], "status": "failed"})
        assert again.status_code == 200  # known, and reported once
        await tap.settle(2)
        assert len(tap.matching(lambda e: e.data.verification_id == form["session"])) == 1


async def _failed_page(p: Patient, form: dict[str, str]) -> httpx.Response | None:
    status = await p.post("/p/book/status", form)
    return status if status.status_code == 410 and NOT_TEXTED in status.text else None


async def test_a_provider_failing_for_a_moment_delays_the_code_and_the_booking_goes_on(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    phone = f"+1555{secrets.randbelow(10_000):04d}999"  # the sink fails its first two tries
    async with httpx.AsyncClient(timeout=30) as client, EventTap(stack.bootstrap, ["booking.code_failed"]) as tap:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Ravi Nair", phone)
        form = code_form(entry, held, picked)
        waiting = await p.post("/p/book/status", form)
        assert waiting.status_code == 200 and "not been told of any problem" in waiting.text
        [code] = await code_sent(stack, phone)  # the third try, on the retry timer
        booked = await p.post("/p/book/code", {**form, "code": code})
        assert booked.status_code == 200 and "You are booked" in booked.text
        assert not tap.matching(lambda e: e.data.verification_id == form["session"])
    calls = await followup_rows(
        stack, "SELECT count(*) AS n FROM sink_calls WHERE idempotency_key = $1", f"fd-booking-code-{form['session']}"
    )
    assert calls == [{"n": 3}]
