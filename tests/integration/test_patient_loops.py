"""The patient's side of the loops, over the real broker, databases and services: a waitlist offer
reaches each offered patient as an SMS with a signed link; the patient books on the scheduler's page;
the first acceptance wins and the others are told the slot has been taken. A "3" reply brings a link to
a page with the next open times (a time taken meanwhile: the others offered, never a double booking),
and becomes a staff task with its deadline when the patient does nothing."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common import patient_links
from frontdesk.common.contracts import AppointmentReplyReceived, ClinicConfig
from frontdesk.testing.followup import zone_where_local_hour_in
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

WAIT = 90.0


def loop_clinic(clinic_id: str, zone: str, hours: str = "00:00-23:59", **messaging: Any) -> ClinicConfig:
    """Open every day (all day by default) in `zone`; dr-b has no template of its own: the clinic's
    hours give the open times, and any explicit window is bookable."""
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Lakeside Family Practice",
            "timezone": zone,
            "hours": {d: [hours] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [{"provider_id": f"{clinic_id}-dr-b"}],
            "scheduling": {
                "appointment_types": [{"type_id": "checkup", "duration_minutes": 30}],
                "waitlist_batch_size": 3,
            },
            "messaging": {"daily_message_limit": 1000, **messaging},
        }
    )


async def known_everywhere(stack: LocalStack, services: dict[str, ServiceProcess], config: ClinicConfig) -> None:
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + WAIT
    for name in ("scheduler", "followup"):
        while config.clinic_id not in await asyncio.to_thread(services[name].known_clinics):
            assert time.monotonic() < deadline, f"{name} never learned the clinic"
            await asyncio.sleep(0.2)


def phone_of(n: int) -> str:
    """A number of this run's own (never ending in 000 or 999: the local sink fails those on purpose)."""
    return f"+1555{int(time.time() * 1000) % 100_000:05d}{n % 9 + 1}5"


async def offers_sent(stack: LocalStack, phones: list[str], template: str = "waitlist-offer") -> dict[str, str]:
    """phone -> the SMS body of its `template` message, once all have gone out."""
    deadline = time.monotonic() + WAIT
    while True:
        rows = await query(
            stack.database_url("followup"),
            "SELECT d.address, d.body FROM sink_deliveries d JOIN messages m ON m.idempotency_key = d.idempotency_key"
            " WHERE m.template = $2 AND d.address = ANY($1::text[])",
            phones,
            template,
        )
        if len(rows) >= len(phones):
            return {r["address"]: r["body"] for r in rows}
        assert time.monotonic() < deadline, f"offers delivered: {len(rows)} of {len(phones)}"
        await asyncio.sleep(0.3)


async def page_link(followup: ServiceProcess, scheduler: ServiceProcess, body: str) -> str:
    """The SMS's short link, followed to the scheduler's page (the tests talk to its plain-http port;
    in production a TLS terminator fronts FRONTDESK_PATIENT_PAGES_URL)."""
    [short] = [w for w in body.split() if w.startswith("https://")]
    async with httpx.AsyncClient(timeout=10) as http:
        redirect = await http.get(f"{followup.url}/l/{short.rsplit('/', 1)[1]}")
    assert redirect.status_code == 302
    return scheduler.url + urlsplit(redirect.headers["location"]).path


async def test_a_cancelled_slot_offered_to_three_two_accept_at_once_one_booking(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler, followup = running["scheduler"], running["followup"]
    zone = zone_where_local_hour_in(10, 18)
    config = loop_clinic(uid("loop"), zone, waitlist_taken_notice=True)
    clinic, provider = config.clinic_id, f"{config.clinic_id}-dr-b"
    await known_everywhere(stack, running, config)
    local = datetime.now(ZoneInfo(zone)) + timedelta(days=3)
    starts = local.replace(hour=10, minute=0, second=0, microsecond=0)
    patients = [uid("pat") for _ in range(3)]
    phones = [phone_of(n) for n in range(3)]
    async with scheduler.client(timeout=30) as api, httpx.AsyncClient(timeout=30, headers=followup.auth_headers) as fu:
        for patient, phone in zip(patients, phones, strict=True):
            contact = {"phone": phone, "timezone": zone, "consents": {"treatment": True}}
            assert (await fu.put(f"{followup.url}/v1/patients/{patient}/contact", json=contact)).status_code == 200
            joined = await api.post(
                "/v1/waitlist",
                json={
                    "clinic_id": clinic,
                    "patient_id": patient,
                    "appointment_type": "checkup",
                    "window_start": (starts - timedelta(days=1)).isoformat(),
                    "window_end": (starts + timedelta(days=1)).isoformat(),
                },
                headers={"Idempotency-Key": uid("k")},
            )
            assert joined.status_code == 201, joined.text
        booking = {
            "patient_id": uid("pat"),
            "clinic_id": clinic,
            "provider_id": provider,
            "appointment_type": "checkup",
            "starts_at": starts.isoformat(),
        }
        booked = await api.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uid("k")})
        assert booked.status_code == 201, booked.text
        appointment_id = booked.json()["appointment_id"]
        cancelled = await api.post(
            f"/v1/appointments/{appointment_id}/cancel", json={"by": "patient"}, headers={"Idempotency-Key": uid("k")}
        )
        assert cancelled.status_code == 200, cancelled.text

    bodies = await offers_sent(stack, phones)
    for body in bodies.values():  # the practice, the time and a short link; nothing about the patient
        assert body.startswith("Lakeside Family Practice: a time opened ") and "10:00 AM" in body
        assert len(body) <= 160 and "STOP" in body
    links = [await page_link(followup, scheduler, bodies[p]) for p in phones]
    for link, patient in zip(links, patients, strict=True):
        assert patient not in link and clinic not in link and provider not in link

    async with httpx.AsyncClient(timeout=30) as browser:  # a patient has no token
        form = await browser.get(links[0])
        assert form.status_code == 200 and "Book this time" in form.text and "10:00 AM" in form.text
        assert form.headers["cache-control"] == "no-store" and "<script" not in form.text
        # Two patients press "Book this time" at once: exactly one gets the slot.
        first, second = await asyncio.gather(browser.post(links[0]), browser.post(links[1]))
        answers = sorted([first, second], key=lambda r: r.status_code)
        assert [r.status_code for r in answers] == [200, 409], [r.text for r in answers]
        assert "You are booked" in answers[0].text and "this slot has been taken" in answers[1].text
        winner = links[0] if first.status_code == 200 else links[1]
        # The third patient, later: taken too. The winner again: already booked, nothing changes.
        third = await browser.get(links[2])
        assert third.status_code == 409 and "this slot has been taken" in third.text
        assert (await browser.post(links[2])).status_code == 409
        # ...and is offered the provider's other open times in their window: one tap books one.
        others = re.findall(r'name=starts_at value="([^"]+)"', third.text)
        assert others and starts.isoformat() not in [html.unescape(o) for o in others]
        alternative = await browser.post(links[2], data={"starts_at": html.unescape(others[0])})
        assert alternative.status_code == 200 and "You are booked" in alternative.text, alternative.text
        twice = await browser.post(links[2], data={"starts_at": html.unescape(others[-1])})
        assert twice.status_code == 410 and "already booked" in twice.text  # one booking per offer
        again = await browser.post(winner)
        assert again.status_code == 410 and "already booked" in again.text
        # A tampered link and an expired one: a clear page, nothing changes.
        token = winner.rsplit("/", 1)[1]
        tampered = winner[: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        bad = await browser.post(tampered)
        assert bad.status_code == 404 and "not valid" in bad.text
        offer_id = token.split(".")[0]
        stale = patient_links.sign(
            "offer", offer_id, datetime.now(UTC) - timedelta(minutes=1), patient_links.LOCAL_DEV_KEY.encode()
        )
        expired = await browser.post(winner[: -len(token)] + stale)
        assert expired.status_code == 410 and "expired" in expired.text
        wrong_purpose = await browser.get(scheduler.url + "/p/reschedule/" + token)
        assert wrong_purpose.status_code in (404, 405)

    rows = await query(
        stack.database_url("scheduler"),
        "SELECT patient_id, status, source FROM appointments WHERE provider_id = $1 AND starts_at = $2"
        " AND status <> 'cancelled'",
        provider,
        starts.astimezone(UTC),
    )
    assert len(rows) == 1 and rows[0]["status"] == "booked" and rows[0]["source"] == "waitlist"
    assert rows[0]["patient_id"] in patients[:2]
    third_booked = await query(
        stack.database_url("scheduler"),
        "SELECT starts_at FROM appointments WHERE patient_id = $1 AND status = 'booked'",
        patients[2],
    )
    assert [r["starts_at"] for r in third_booked] == [datetime.fromisoformat(html.unescape(others[0]))]
    offers = await query(
        stack.database_url("scheduler"),
        "SELECT o.status FROM waitlist_offers o JOIN waitlist w ON w.waitlist_id = o.waitlist_id"
        " WHERE w.patient_id = ANY($1::text[])",
        patients,
    )
    assert sorted(o["status"] for o in offers) == ["accepted", "taken", "taken"]
    # This clinic asked for it: the two others are also to be told by SMS that the slot went, as any
    # message: within the daily cap on treatment messages, which today's offer already used up.
    losers = [p for p, link in zip(patients, links, strict=True) if link != winner]
    deadline = time.monotonic() + WAIT
    while True:
        notices = await query(
            stack.database_url("followup"),
            "SELECT status, reason FROM messages WHERE template = 'waitlist-taken' AND patient_id = ANY($1::text[])",
            losers,
        )
        if len(notices) == 2 and all(n["status"] != "pending" for n in notices):
            break
        assert time.monotonic() < deadline, notices
        await asyncio.sleep(0.3)
    assert {(n["status"], n["reason"]) for n in notices} == {("skipped", "frequency_cap")}
    # The loop's metrics: one freed slot offered, refilled from the waitlist.
    async with httpx.AsyncClient(timeout=10) as ops:
        metrics = (await ops.get(scheduler.ops_url + "/metrics")).text
    for name in ("waitlist_slots_offered_total", "waitlist_refills_total", "waitlist_refill_seconds_count"):
        assert f'frontdesk_scheduler_{name}{{clinic_id="{clinic}"}} 1.0' in metrics, name


async def test_an_offer_closed_before_its_message_left_withdraws_the_message(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    """Night at the clinic: the offer messages wait for the morning (quiet hours). One patient books on
    the page meanwhile (a link from an earlier message, say): neither waiting message goes out."""
    zone = zone_where_local_hour_in(0, 5)
    config = loop_clinic(uid("loop"), zone)
    config = config.model_copy(
        update={"scheduling": config.scheduling.model_copy(update={"waitlist_offer_ttl_seconds": 86400})}
    )
    await known_everywhere(stack, running, config)
    starts = (datetime.now(ZoneInfo(zone)) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)
    patients = [uid("pat"), uid("pat")]
    async with (
        running["scheduler"].client(timeout=30) as api,
        httpx.AsyncClient(timeout=30, headers=running["followup"].auth_headers) as fu,
    ):
        for n, patient in enumerate(patients):
            contact = {"phone": phone_of(n + 3), "timezone": zone, "consents": {"treatment": True}}
            assert (await fu.put(f"{running['followup'].url}/v1/patients/{patient}/contact", json=contact)).is_success
            await api.post(
                "/v1/waitlist",
                json={
                    "clinic_id": config.clinic_id,
                    "patient_id": patient,
                    "appointment_type": "checkup",
                    "window_start": (starts - timedelta(days=1)).isoformat(),
                    "window_end": (starts + timedelta(days=1)).isoformat(),
                },
                headers={"Idempotency-Key": uid("k")},
            )
        booking = {
            "patient_id": uid("pat"),
            "clinic_id": config.clinic_id,
            "provider_id": f"{config.clinic_id}-dr-b",
            "appointment_type": "checkup",
            "starts_at": starts.isoformat(),
        }
        booked = (await api.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uid("k")})).json()
        await api.post(
            f"/v1/appointments/{booked['appointment_id']}/cancel", json={}, headers={"Idempotency-Key": uid("k")}
        )
    waiting = await _messages(stack, patients, lambda rows: len(rows) == 2)
    assert all(m["status"] == "pending" for m in waiting), waiting  # deferred to the morning
    offer = await query(
        stack.database_url("scheduler"),
        "SELECT o.offer_id, o.expires_at FROM waitlist_offers o JOIN waitlist w USING (waitlist_id)"
        " WHERE w.patient_id = $1",
        patients[0],
    )
    token = patient_links.sign(
        "offer", offer[0]["offer_id"], offer[0]["expires_at"], patient_links.LOCAL_DEV_KEY.encode()
    )
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.post(f"{running['scheduler'].url}/p/offer/{token}")).status_code == 200
    done = await _messages(stack, patients, lambda rows: all(r["status"] != "pending" for r in rows))
    assert {(m["status"], m["reason"]) for m in done} == {("cancelled", "cancelled")}, done


async def _messages(
    stack: LocalStack, patients: list[str], ready: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while True:
        rows = await query(
            stack.database_url("followup"),
            "SELECT status, reason FROM messages WHERE template = 'waitlist-offer' AND patient_id = ANY($1::text[])",
            patients,
        )
        if rows and ready(rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.3)


async def _booked_patient(
    stack: LocalStack, running: dict[str, ServiceProcess], **scheduling: Any
) -> tuple[ClinicConfig, dict[str, Any], str]:
    """A clinic where it is daytime, a patient with a phone and a booked appointment in 3 days."""
    zone = zone_where_local_hour_in(10, 18)
    config = loop_clinic(uid("loop"), zone)
    config = config.model_copy(update={"scheduling": config.scheduling.model_copy(update=scheduling)})
    await known_everywhere(stack, running, config)
    patient, phone = uid("pat"), phone_of(7)
    starts = (datetime.now(ZoneInfo(zone)) + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    async with (
        running["scheduler"].client(timeout=30) as api,
        httpx.AsyncClient(timeout=30, headers=running["followup"].auth_headers) as fu,
    ):
        contact = {"phone": phone, "timezone": zone, "consents": {"treatment": True}}
        assert (await fu.put(f"{running['followup'].url}/v1/patients/{patient}/contact", json=contact)).is_success
        booking = {
            "patient_id": patient,
            "clinic_id": config.clinic_id,
            "provider_id": f"{config.clinic_id}-dr-b",
            "appointment_type": "checkup",
            "starts_at": starts.isoformat(),
        }
        booked = await api.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uid("k")})
        assert booked.status_code == 201, booked.text
    return config, booked.json(), phone


def of(kind: str, appointment: dict[str, Any]) -> Callable[[Any], bool]:
    return lambda e: e.type == kind and getattr(e.data, "appointment_id", None) == appointment["appointment_id"]


async def _reply_three(stack: LocalStack, appointment: dict[str, Any]) -> None:
    reply = AppointmentReplyReceived(
        appointment_id=appointment["appointment_id"],
        patient_id=appointment["patient_id"],
        clinic_id=appointment["clinic_id"],
        provider_id=appointment["provider_id"],
        reply="reschedule",
        received_at=datetime.now(UTC),
    )
    await send_events(stack.bootstrap, [reply])  # followup turns the patient's "3" into this


async def test_a_3_reply_leads_to_a_self_service_reschedule_that_is_conflict_safe(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler, followup = running["scheduler"], running["followup"]
    config, appointment, phone = await _booked_patient(stack, running)
    async with EventTap(stack.bootstrap, ["appointment.reschedule_requested", "appointment.rescheduled"]) as tap:
        await _reply_three(stack, appointment)
        body = (await offers_sent(stack, [phone], "reschedule-link"))[phone]
        assert body.startswith("Lakeside Family Practice: pick a new time for your ") and "11:00 AM" in body
        link = await page_link(followup, scheduler, body)
        assert appointment["patient_id"] not in link and appointment["appointment_id"] not in link
        async with httpx.AsyncClient(timeout=30) as browser:
            form = await browser.get(link)
            assert form.status_code == 200 and "Choose a new time" in form.text and "<script" not in form.text
            times = re.findall(r'name=starts_at value="([^"]+)"', form.text)
            assert len(times) >= 3
            # Someone else books the first time meanwhile: the patient is told and offered what is open.
            async with scheduler.client(timeout=30) as api:
                other = {**{k: appointment[k] for k in ("clinic_id", "provider_id", "appointment_type")}}
                taken = await api.post(
                    "/v1/appointments",
                    json={**other, "patient_id": uid("pat"), "starts_at": html.unescape(times[0])},
                    headers={"Idempotency-Key": uid("k")},
                )
                assert taken.status_code == 201, taken.text
            clash = await browser.post(link, data={"starts_at": html.unescape(times[0])})
            assert clash.status_code == 409 and "just taken" in clash.text
            still_open = re.findall(r'name=starts_at value="([^"]+)"', clash.text)
            assert still_open and times[0] not in still_open  # the taken time is no longer offered
            pick = still_open[0]
            moved = await browser.post(link, data={"starts_at": html.unescape(pick)})
            assert moved.status_code == 200 and "has been moved" in moved.text
            again = await browser.post(link, data={"starts_at": html.unescape(pick)})
            assert again.status_code == 410 and "has been moved" in again.text  # idempotent: nothing changes
            other_pick = await browser.post(link, data={"starts_at": html.unescape(times[-1])})
            assert other_pick.status_code == 410
            garbage = await browser.post(link, data={"starts_at": "tomorrow"})
            assert garbage.status_code == 410 and "has been moved" in garbage.text
        [rescheduled] = await tap.wait_for(of("appointment.rescheduled", appointment), timeout=WAIT)
        await tap.settle(2)
    assert rescheduled.data.starts_at == datetime.fromisoformat(html.unescape(pick))  # type: ignore[attr-defined]
    assert len(tap.matching(of("appointment.rescheduled", appointment))) == 1  # moved once
    [row] = await query(
        stack.database_url("scheduler"),
        "SELECT status, starts_at FROM appointments WHERE appointment_id = $1",
        appointment["appointment_id"],
    )
    assert row["status"] == "booked" and row["starts_at"] == datetime.fromisoformat(html.unescape(pick))
    async with httpx.AsyncClient(timeout=10) as ops:
        metrics = (await ops.get(scheduler.ops_url + "/metrics")).text
    assert (
        f'frontdesk_scheduler_reschedule_requests_total{{clinic_id="{config.clinic_id}",handled_by="patient"}} 1.0'
        in metrics
    )


async def test_a_3_reply_nobody_acts_on_becomes_a_staff_task_with_its_deadline(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    _, appointment, phone = await _booked_patient(stack, running, reschedule_staff_hours=2)
    async with EventTap(stack.bootstrap, ["appointment.reschedule_requested", "appointment.reschedule_task"]) as tap:
        await _reply_three(stack, appointment)
        [requested] = await tap.wait_for(of("appointment.reschedule_requested", appointment), timeout=WAIT)
        body = (await offers_sent(stack, [phone], "reschedule-link"))[phone]
        link = await page_link(running["followup"], running["scheduler"], body)
        # The window passes untouched. (The test moves the durable timer, not the clock.)
        await query(
            stack.database_url("scheduler"),
            "UPDATE timers SET due_at = now() WHERE kind = 'reschedule_window' AND payload->>'reschedule_id' = $1",
            requested.data.reschedule_id,  # type: ignore[attr-defined]
        )
        [task] = await tap.wait_for(of("appointment.reschedule_task", appointment), timeout=WAIT)
    assert task.data.due_at - task.data.opened_at == timedelta(hours=2)  # type: ignore[attr-defined]
    assert task.data.patient_id == appointment["patient_id"]  # type: ignore[attr-defined]
    async with httpx.AsyncClient(timeout=30) as browser:  # the link no longer moves anything
        closed = await browser.post(link, data={"starts_at": appointment["starts_at"]})
        assert closed.status_code == 410 and "no longer open" in closed.text
    [row] = await query(
        stack.database_url("scheduler"),
        "SELECT starts_at FROM appointments WHERE appointment_id = $1",
        appointment["appointment_id"],
    )
    assert row["starts_at"] == datetime.fromisoformat(appointment["starts_at"])
