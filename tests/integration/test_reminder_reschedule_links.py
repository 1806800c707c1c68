"""Reminders carry the reschedule page's link ("the equivalent link in reminders", issue #20), over the
real broker, databases and services: the reminder's SMS has a short signed link; the patient moves the
appointment there themselves (counted apart from "3" replies); the link works once; the next reminder,
for the new time, carries a new link. Moving the appointment closes a "3" request still open, so its
window never becomes a staff task for an appointment already moved."""

from __future__ import annotations

import asyncio
import html
import re
import time
from datetime import datetime, timedelta

import httpx

from frontdesk.common import patient_links
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_patient_loops import WAIT, _booked_patient, _reply_three, of, offers_sent, page_link


async def _fire_reminder(stack: LocalStack, appointment_id: str, offset: str = "P2D") -> None:
    """The reminder falls due now (the test moves the durable timer, not the clock)."""
    deadline = time.monotonic() + WAIT
    while not await query(
        stack.database_url("scheduler"),
        "UPDATE timers SET due_at = now() WHERE kind = 'reminder' AND payload->>'appointment_id' = $1"
        " AND payload->>'offset' = $2 RETURNING 1",
        appointment_id,
        offset,
    ):
        assert time.monotonic() < deadline, "no reminder timer to fire"
        await asyncio.sleep(0.3)


def _reschedule_link(scheduler: ServiceProcess, reschedule_id: str, expires_at: datetime) -> str:
    """The link followup would sign (the local stack's public key): for a message the caps held back."""
    token = patient_links.sign("reschedule", reschedule_id, expires_at, patient_links.LOCAL_DEV_KEY.encode())
    return f"{scheduler.url}/p/reschedule/{token}"


def _times(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'name=starts_at value="([^"]+)"', page)]


async def _metric(scheduler: ServiceProcess, clinic_id: str, handled_by: str) -> str | None:
    async with httpx.AsyncClient(timeout=10) as ops:
        metrics = (await ops.get(scheduler.ops_url + "/metrics")).text
    prefix = f'frontdesk_scheduler_reschedule_requests_total{{clinic_id="{clinic_id}",handled_by="{handled_by}"}} '
    return next((line.removeprefix(prefix) for line in metrics.splitlines() if line.startswith(prefix)), None)


async def test_a_reminder_carries_a_link_the_patient_moves_the_appointment_with(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler, followup = running["scheduler"], running["followup"]
    config, appointment, phone = await _booked_patient(stack, running)
    async with EventTap(stack.bootstrap, ["appointment.reminder_due", "appointment.rescheduled"]) as tap:
        await _fire_reminder(stack, appointment["appointment_id"])
        [due] = await tap.wait_for(of("appointment.reminder_due", appointment), timeout=WAIT)
        body = (await offers_sent(stack, [phone], "appointment-reminder-link"))[phone]
        assert body.startswith("Lakeside Family Practice: visit ") and "11:00 AM. Reply 1 to confirm" in body
        assert "Move it: https://" in body and len(body) <= 160
        link = await page_link(followup, scheduler, body)
        assert due.data.reschedule_id in link  # type: ignore[attr-defined]
        assert appointment["patient_id"] not in link and appointment["appointment_id"] not in link
        async with httpx.AsyncClient(timeout=30) as browser:
            form = await browser.get(link)
            assert form.status_code == 200 and "Choose a new time" in form.text and "<script" not in form.text
            assert "your appointment stays as it is" in form.text  # nobody follows up a reminder's link
            pick = _times(form.text)[1]
            moved = await browser.post(link, data={"starts_at": pick})
            assert moved.status_code == 200 and "has been moved" in moved.text
            again = await browser.post(link, data={"starts_at": _times(form.text)[2]})
            assert again.status_code == 410 and "has been moved" in again.text  # single use
        [rescheduled] = await tap.wait_for(of("appointment.rescheduled", appointment), timeout=WAIT)
        assert rescheduled.data.starts_at == datetime.fromisoformat(pick)  # type: ignore[attr-defined]
        # Staff move it again, days ahead: the new time's reminders carry a new link; the used one stays used.
        later = datetime.fromisoformat(appointment["starts_at"]) + timedelta(days=1)
        async with scheduler.client(timeout=30) as api:
            staff = await api.post(
                f"/v1/appointments/{appointment['appointment_id']}/reschedule",
                json={"starts_at": later.isoformat()},
                headers={"Idempotency-Key": uid("k")},
            )
            assert staff.status_code == 200, staff.text
        await _fire_reminder(stack, appointment["appointment_id"])
        [_, next_due] = await tap.wait_for(of("appointment.reminder_due", appointment), count=2, timeout=WAIT)
    assert next_due.data.starts_at == later  # type: ignore[attr-defined]
    assert next_due.data.reschedule_id not in (None, due.data.reschedule_id)  # type: ignore[attr-defined]
    fresh = _reschedule_link(scheduler, next_due.data.reschedule_id, later)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(timeout=30) as browser:
        open_again = await browser.get(fresh)
        assert open_again.status_code == 200
        used = await browser.get(link)
        assert used.status_code == 200 and "has been moved" in used.text  # what became of it, nothing more
        assert (await browser.post(link, data={"starts_at": _times(open_again.text)[0]})).status_code == 410
    assert await _metric(scheduler, config.clinic_id, "reminder_link") == "1.0"
    assert await _metric(scheduler, config.clinic_id, "patient") is None  # a "3" reply's count is apart


async def test_a_move_from_the_reminder_link_closes_a_3_request_no_staff_task_follows(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler = running["scheduler"]
    _, appointment, _ = await _booked_patient(stack, running)
    topics = ["appointment.reschedule_requested", "appointment.reminder_due", "appointment.reschedule_task"]
    async with EventTap(stack.bootstrap, topics) as tap:
        await _reply_three(stack, appointment)
        [requested] = await tap.wait_for(of("appointment.reschedule_requested", appointment), timeout=WAIT)
        await _fire_reminder(stack, appointment["appointment_id"])
        [due] = await tap.wait_for(of("appointment.reminder_due", appointment), timeout=WAIT)
        reminder_link = _reschedule_link(scheduler, due.data.reschedule_id, due.data.starts_at)  # type: ignore[attr-defined]
        reply_link = _reschedule_link(scheduler, requested.data.reschedule_id, requested.data.expires_at)  # type: ignore[attr-defined]
        assert reminder_link != reply_link
        async with httpx.AsyncClient(timeout=30) as browser:
            pick = _times((await browser.get(reminder_link)).text)[0]
            assert (await browser.post(reminder_link, data={"starts_at": pick})).status_code == 200
            closed = await browser.get(reply_link)  # the "3" request was settled by the move
            assert closed.status_code == 410 and "changed since" in closed.text
        # The "3" window passes: nothing is left for staff.
        await query(
            stack.database_url("scheduler"),
            "UPDATE timers SET due_at = now() WHERE kind = 'reschedule_window' AND payload->>'reschedule_id' = $1",
            requested.data.reschedule_id,  # type: ignore[attr-defined]
        )
        await _window_timer_gone(stack, requested.data.reschedule_id)  # type: ignore[attr-defined]
        await tap.settle(2)
    assert not tap.matching(of("appointment.reschedule_task", appointment))
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT kind, status FROM reschedule_requests WHERE appointment_id = $1 ORDER BY kind",
        appointment["appointment_id"],
    )
    assert [(r["kind"], r["status"]) for r in rows] == [("reminder", "moved"), ("reply", "closed")]


async def _window_timer_gone(stack: LocalStack, reschedule_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while await query(
        stack.database_url("scheduler"),
        "SELECT 1 FROM timers WHERE kind = 'reschedule_window' AND payload->>'reschedule_id' = $1",
        reschedule_id,
    ):
        assert time.monotonic() < deadline, "the window's timer never fired"
        await asyncio.sleep(0.3)
