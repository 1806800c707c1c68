"""followup through the real broker and database: message.requested -> contact policy -> local sink
-> message.sent / message.skipped; plans from events; signed inbound replies.

Quiet hours are real, so the test clinic is placed in a time zone where it is mid-day right now
(and a second one where it is the middle of the night, to see deferral).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    CallbackRequested,
    ClinicConfig,
    Event,
    VisitCompleted,
)
from frontdesk.followup.settings import LOCAL_DEV_SECRET
from frontdesk.followup.sms_replies import sign
from frontdesk.testing.followup import AUTH as _AUTH
from frontdesk.testing.followup import FEEDBACK_LINK, phone_for, request, signed_post, zone_where_local_hour_in
from frontdesk.testing.followup import api_request as _http
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

WAIT = 90.0
# Zones whose offsets are not whole hours (no candidate zone of the clinics shows the same minutes), by
# offset; at least one of them is at 09:00-20:00 at any moment.
HALF_HOUR_ZONES = (
    "Pacific/Marquesas", "America/St_Johns", "Asia/Tehran", "Asia/Kabul", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Yangon", "Australia/Eucla", "Australia/Darwin", "Australia/Adelaide", "Pacific/Chatham",
)  # fmt: skip


def annex_zone() -> str:
    """A zone for a location of the day clinic: daytime there too, its minutes not the clinic's."""
    now = datetime.now(UTC)
    return next(z for z in HALF_HOUR_ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 20)


@pytest.fixture(autouse=True)
def _network_token(api_headers: dict[str, str]) -> None:
    """Every API call of this module carries the stack's network-wide token (public routes ignore it)."""
    _AUTH.update(api_headers)


def clinic(clinic_id: str, zone: str, annex: str | None = None, **messaging: Any) -> ClinicConfig:
    """A clinic open all day; `annex`: the zone of its location "annex", where dr-annex works."""
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Harbour View Family Practice",
            "timezone": zone,
            "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [{"provider_id": "dr-a"}, {"provider_id": "dr-annex", "location_id": "annex"}],
            "scheduling": {"locations": [{"location_id": "annex", "timezone": annex or zone}]},
            "messaging": messaging,
        }
    )


_CLINICS: dict[str, str] = {}


async def day_clinic(stack: LocalStack, followup: ServiceProcess) -> str:
    """A clinic where it is between 10:00 and 13:00 now (published once per session). Not later: the
    split clinic keeps a day in it and in the night zone, and its next allowed minute is 08:00 in the
    night zone only while that is before 21:00 in the day zone (at most 12 hours ahead)."""
    if "day" not in _CLINICS:
        day_id, night_id, split_id = uid("fu-day"), uid("fu-night"), uid("fu-split")
        day_zone, night_zone, annex = zone_where_local_hour_in(10, 13), zone_where_local_hour_in(1, 5), annex_zone()
        await publish(
            stack.bootstrap,
            [
                clinic(day_id, day_zone, annex, callback_target_minutes=5),
                clinic(night_id, night_zone),
                clinic(split_id, day_zone, night_zone),  # by day at its address, a location where it is night
            ],
        )
        deadline = time.monotonic() + WAIT
        while True:
            if {day_id, night_id, split_id} <= followup.known_clinics():
                break
            assert time.monotonic() < deadline, "followup never learned the test clinics"
            await asyncio.sleep(0.3)
        _CLINICS.update(day=day_id, night=night_id, night_zone=night_zone, split=split_id, annex=annex)
    return _CLINICS["day"]


async def register(followup: ServiceProcess, patient_id: str, phone: str, **extra: Any) -> dict[str, Any]:
    body = {"phone": phone, "consents": {"treatment": True, "feedback": True}, **extra}
    response = await _http("PUT", f"{followup.url}/v1/patients/{patient_id}/contact", json=body, timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def mine(patient: str, kind: str) -> Callable[[Envelope[Event]], bool]:
    return lambda e: e.type == kind and getattr(e.data, "patient_id", None) == patient


def of(request_id: str) -> Any:
    return lambda e: getattr(e.data, "message_request_id", None) == request_id


def reminder_due(patient: str, clinic_id: str, provider_id: str, starts: datetime) -> AppointmentReminderDue:
    return AppointmentReminderDue(
        appointment_id=uid("appt"),
        patient_id=patient,
        clinic_id=clinic_id,
        provider_id=provider_id,
        reminder_id=uid("rem"),
        starts_at=starts,
        offset="P2D",
    )


async def body_sent(stack: LocalStack, sent: Envelope[Event]) -> str:
    """The text the provider got for a followup.sent."""
    [row] = await query(
        stack.database_url("followup"),
        "SELECT body FROM sink_deliveries d JOIN messages m ON m.idempotency_key = d.idempotency_key"
        " WHERE m.followup_id = $1",
        sent.data.followup_id,  # type: ignore[attr-defined]
    )
    body: str = row["body"]
    return body


async def test_a_requested_message_is_sent_once_through_the_sink(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    phone = phone_for(patient)
    await register(followup, patient, phone)
    req = request(patient, clinic_id)
    async with EventTap(stack.bootstrap, ["message.sent", "message.skipped"]) as tap:
        await send_events(stack.bootstrap, [req, req])  # the same request twice: one message
        [sent] = await tap.wait_for(of(req.message_request_id), timeout=WAIT)
        await tap.settle(2)
    assert sent.type == "message.sent" and len(tap.matching(of(req.message_request_id))) == 1
    assert sent.data.channel == "sms"  # type: ignore[attr-defined]
    rows = await query(
        stack.database_url("followup"),
        "SELECT d.address, d.body FROM sink_deliveries d JOIN messages m ON m.idempotency_key = d.idempotency_key"
        " WHERE m.message_request_id = $1",
        req.message_request_id,
    )
    assert len(rows) == 1 and rows[0]["address"] == phone
    body = rows[0]["body"]
    assert body.startswith("Harbour View Family Practice: thank you! Rate us https://fdsk.example/l/")
    assert len(body) <= 160 and "STOP" in body
    # The long links became short ones that lead where the reviews service wanted.
    feedback_code, review_code = (w.rsplit("/", 1)[1] for w in body.split() if w.startswith("https://"))
    for code, target in ((feedback_code, FEEDBACK_LINK), (review_code, "https://g.page/r/harbour-view/review")):
        redirect = await _http("GET", f"{followup.url}/l/{code}", timeout=10)
        assert (redirect.status_code, redirect.headers["location"]) == (302, target)
    assert (await _http("GET", f"{followup.url}/l/000000000", timeout=10)).status_code == 404
    # Contact details never travel on a topic.
    assert phone not in json.dumps([e.data.model_dump(mode="json") for e in tap.events])
    # The provider's signed delivery receipt is recorded against the message.
    [provider_id] = [
        r["provider_message_id"]
        for r in await query(
            stack.database_url("followup"),
            "SELECT provider_message_id FROM messages WHERE message_request_id = $1",
            req.message_request_id,
        )
    ]
    receipts = followup.url + "/v1/webhooks/receipts"
    ok = await signed_post(receipts, {"provider_message_id": provider_id, "status": "delivered"})
    assert ok.status_code == 200, ok.text
    unknown = await signed_post(receipts, {"provider_message_id": "nope", "status": "delivered"})
    assert unknown.status_code == 404
    bad = await signed_post(receipts, {"provider_message_id": provider_id, "status": "eaten"})
    assert bad.status_code == 422 and "status" in bad.text
    messages = (await _http("GET", f"{followup.url}/v1/patients/{patient}/messages", timeout=10)).json()
    assert [m["receipt_status"] for m in messages] == ["delivered"]
    assert phone not in json.dumps(messages)


async def test_skips_say_why(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    unknown = request(uid("pat-nocontact"), clinic_id)
    no_marketing_patient = uid("pat")
    # Only treatment messages agreed: a feedback request has no consent.
    await register(followup, no_marketing_patient, phone_for(no_marketing_patient), consents={"treatment": True})
    marketing = request(no_marketing_patient, clinic_id)
    bad_template = request(no_marketing_patient, clinic_id, template="no-such-template")
    reqs: list[Event] = [unknown, marketing, bad_template]
    async with EventTap(stack.bootstrap, ["message.sent", "message.skipped"]) as tap:
        await send_events(stack.bootstrap, reqs)
        found = {
            r.message_request_id: (await tap.wait_for(of(r.message_request_id), timeout=WAIT))[0]  # type: ignore[attr-defined]
            for r in reqs
        }
    reasons = {k: (e.type, getattr(e.data, "reason", None)) for k, e in found.items()}
    assert reasons[unknown.message_request_id] == ("message.skipped", "no_contact_details")
    assert reasons[marketing.message_request_id] == ("message.skipped", "no_consent")
    assert reasons[bad_template.message_request_id] == ("message.skipped", "template_unknown")
    # The dashboards' skips by reason (the counter lives as long as the process: at least these).
    async with httpx.AsyncClient(timeout=10) as http:
        exposed = (await http.get(followup.ops_url + "/metrics")).text
    for reason in ("no_contact_details", "no_consent", "template_unknown"):
        found = re.search(rf'^frontdesk_followup_skips_total{{reason="{reason}"}} (\S+)$', exposed, re.M)
        assert found and float(found.group(1)) >= 1, reason


async def test_quiet_hours_defer_to_the_next_allowed_minute(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    day = await day_clinic(stack, followup)
    night_zone = _CLINICS["night_zone"]
    # A patient of the clinic where it is night now, a patient of the day clinic who lives in that
    # night zone, and one of a clinic by day whose zone is not on file, but who may be a patient of its
    # location where it is night: quiet hours follow the recipient, wherever they may be.
    at_night, travelling, of_the_annex = uid("pat"), uid("pat"), uid("pat")
    await register(followup, at_night, phone_for(at_night))
    await register(followup, travelling, phone_for(travelling), timezone=night_zone)
    await register(followup, of_the_annex, phone_for(of_the_annex))
    reqs = [request(at_night, _CLINICS["night"]), request(travelling, day), request(of_the_annex, _CLINICS["split"])]
    await send_events(stack.bootstrap, list(reqs))
    for req in reqs:
        deadline = time.monotonic() + WAIT
        while True:
            rows = await query(
                stack.database_url("followup"),
                "SELECT status, next_at, timer_seq FROM messages WHERE message_request_id = $1",
                req.message_request_id,
            )
            if rows and rows[0]["timer_seq"] >= 2:  # armed on arrival, then re-armed for the morning
                break
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.3)
        local = rows[0]["next_at"].astimezone(ZoneInfo(night_zone))
        assert rows[0]["status"] == "pending"
        assert (local.hour, local.minute, local.second) == (8, 0, 0)
        sink = await query(
            stack.database_url("followup"),
            "SELECT 1 FROM sink_calls c JOIN messages m ON m.idempotency_key = c.idempotency_key"
            " WHERE m.message_request_id = $1",
            req.message_request_id,
        )
        assert sink == []


async def test_stop_by_sms_is_honoured_at_once_and_announced(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    phone = phone_for(patient)
    await register(followup, patient, phone)
    url = followup.url + "/v1/webhooks/sms"
    # Unsigned, wrongly signed and stale requests are refused.
    assert (await _http("POST", url, json={"from": phone, "text": "STOP"}, timeout=10)).status_code == 401
    assert (await signed_post(url, {"from": phone, "text": "STOP"}, secret="wrong")).status_code == 401
    assert (await signed_post(url, {"from": phone, "text": "STOP"}, ts=int(time.time()) - 3600)).status_code == 401
    async with EventTap(stack.bootstrap, ["contact.preference_changed", "message.skipped"]) as tap:
        payload = {"from": phone, "text": "Stop"}
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        headers = {"X-Frontdesk-Timestamp": stamp, "X-Frontdesk-Signature": sign(LOCAL_DEV_SECRET, stamp, body)}
        first = await _http("POST", url, content=body, headers=headers, timeout=10)
        replay = await _http("POST", url, content=body, headers=headers, timeout=10)
        assert first.status_code == 200 and first.json()["preference"] == "opted_out"
        assert replay.json() == {"duplicate": True}
        changes = await tap.wait_for(lambda e: getattr(e.data, "patient_id", None) == patient, 3, timeout=WAIT)
        assert {(c.data.purpose, c.data.opted_in) for c in changes} == {  # type: ignore[attr-defined]
            ("treatment", False),
            ("feedback", False),
            ("marketing", False),
        }
        req = request(patient, clinic_id)
        await send_events(stack.bootstrap, [req])
        [skipped] = await tap.wait_for(of(req.message_request_id), timeout=WAIT)
    assert skipped.data.reason == "opted_out"  # type: ignore[attr-defined]
    consent = (await _http("GET", f"{followup.url}/v1/patients/{patient}/consent", timeout=10)).json()
    assert consent["consent"] == {"treatment": "opted_out", "feedback": "opted_out", "marketing": "opted_out"}
    assert phone not in json.dumps(consent)
    # START restores what STOP took away (never marketing, which was not given).
    restarted = await signed_post(url, {"from": phone, "text": "START"})
    assert restarted.json()["preference"] == "opted_in"
    consent = (await _http("GET", f"{followup.url}/v1/patients/{patient}/consent", timeout=10)).json()
    assert consent["consent"] == {"treatment": "granted", "feedback": "granted", "marketing": "opted_out"}


async def test_reminder_reply_and_concern(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    phone = phone_for(patient)
    await register(followup, patient, phone)
    due = reminder_due(patient, clinic_id, "dr-a", datetime.now(UTC) + timedelta(days=2))
    appointment = due.appointment_id
    topics = ["followup.scheduled", "followup.sent", "appointment.reply_received", "followup.escalated"]
    async with EventTap(stack.bootstrap, topics) as tap:
        await send_events(stack.bootstrap, [due])
        [scheduled] = await tap.wait_for(mine(patient, "followup.scheduled"), timeout=WAIT)
        [sent] = await tap.wait_for(mine(patient, "followup.sent"), timeout=WAIT)
        assert scheduled.data.kind == sent.data.kind == "reminder"  # type: ignore[attr-defined]
        answer = await signed_post(followup.url + "/v1/webhooks/sms", {"from": phone, "text": "1"})
        assert answer.json()["answer"] == "confirm"
        [reply] = await tap.wait_for(mine(patient, "appointment.reply_received"), timeout=WAIT)
        assert (reply.data.appointment_id, reply.data.reply) == (appointment, "confirm")  # type: ignore[attr-defined]
        concern = await signed_post(followup.url + "/v1/webhooks/sms", {"from": phone, "text": "my chest hurts"})
        task_id = concern.json()["task_id"]
        [escalated] = await tap.wait_for(mine(patient, "followup.escalated"), timeout=WAIT)
    assert escalated.data.task_id == task_id and escalated.data.urgency == "urgent"  # type: ignore[attr-defined]
    assert escalated.data.clinic_id == clinic_id  # type: ignore[attr-defined]
    assert "chest" not in json.dumps(escalated.data.model_dump(mode="json"))
    tasks = (await _http("GET", f"{followup.url}/v1/clinics/{clinic_id}/tasks", timeout=10)).json()
    assert any(t["task_id"] == task_id and t["body"] == "my chest hurts" for t in tasks)
    assert "Reply 1 to confirm, 2 to cancel, 3 to reschedule" in await body_sent(stack, sent)


async def test_a_reminder_tells_the_time_where_the_provider_works(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    """A provider at a location in another zone: the patient goes by that location's clock, as the
    scheduler's slots do (the provider's template is read there), not by the clinic's."""
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    await register(followup, patient, phone_for(patient))
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    due = reminder_due(patient, clinic_id, "dr-annex", starts)
    async with EventTap(stack.bootstrap, ["followup.sent"]) as tap:
        await send_events(stack.bootstrap, [due])
        [sent] = await tap.wait_for(mine(patient, "followup.sent"), timeout=WAIT)
    body = await body_sent(stack, sent)
    local = starts.astimezone(ZoneInfo(_CLINICS["annex"]))
    told = f"appointment {local:%a %b} {local.day} at {local.hour % 12 or 12}:{local:%M %p}."
    assert told in body, body


async def test_plans_from_visits_no_shows_and_reschedules(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    await register(followup, patient, phone_for(patient))
    now = datetime.now(UTC)
    # Yesterday's visit (it is past 10:00 in the clinic now): the check-in is due already and goes out.
    visit = VisitCompleted(
        visit_id=uid("visit"),
        patient_id=patient,
        clinic_id=clinic_id,
        provider_id="dr-a",
        completed_at=now - timedelta(hours=26),
    )
    topics = ["followup.scheduled", "followup.cancelled", "followup.sent"]
    async with EventTap(stack.bootstrap, topics) as tap:
        await send_events(stack.bootstrap, [visit])
        planned = await tap.wait_for(mine(patient, "followup.scheduled"), 2, timeout=WAIT)
        kinds: dict[str, Any] = {e.data.kind: e.data for e in planned}  # type: ignore[attr-defined]
        assert set(kinds) == {"check_in", "recall"}
        assert kinds["recall"].due_at > now + timedelta(days=150)
        assert kinds["check_in"].due_at <= now
        [sent] = await tap.wait_for(mine(patient, "followup.sent"), timeout=WAIT)
        assert sent.data.kind == "check_in"  # type: ignore[attr-defined]
        # A later booking cancels the recall.
        appointment = uid("appt")
        starts = now + timedelta(days=20)
        booked = AppointmentBooked(
            appointment_id=appointment,
            request_id=uid("req"),
            patient_id=patient,
            clinic_id=clinic_id,
            provider_id="dr-a",
            appointment_type="checkup",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=30),
        )
        await send_events(stack.bootstrap, [booked])
        [cancelled] = await tap.wait_for(mine(patient, "followup.cancelled"), timeout=WAIT)
        assert (cancelled.data.kind, cancelled.data.reason) == ("recall", "appointment_booked")  # type: ignore[attr-defined]
        # A no-show: same-evening outreach is planned.
        missed = AppointmentNoShow(
            appointment_id=uid("appt"),
            patient_id=patient,
            clinic_id=clinic_id,
            provider_id="dr-a",
            starts_at=now - timedelta(hours=1),
        )
        await send_events(stack.bootstrap, [missed])
        await tap.wait_for(lambda e: mine(patient, "followup.scheduled")(e) and e.data.kind == "no_show", timeout=WAIT)  # type: ignore[attr-defined]
    plans = (await _http("GET", f"{followup.url}/v1/patients/{patient}/followups", timeout=10)).json()
    assert {(p["kind"], p["status"]) for p in plans} >= {("check_in", "sent"), ("recall", "cancelled")}


async def test_reschedule_withdraws_a_pending_reminder(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    await day_clinic(stack, followup)
    night = _CLINICS["night"]  # quiet hours now: the reminder waits, then the appointment moves
    patient = uid("pat")
    await register(followup, patient, phone_for(patient))
    appointment = uid("appt")
    starts = datetime.now(UTC) + timedelta(days=3)
    due = AppointmentReminderDue(
        appointment_id=appointment,
        patient_id=patient,
        clinic_id=night,
        provider_id="dr-a",
        reminder_id=uid("rem"),
        starts_at=starts,
        offset="P2D",
    )
    moved = AppointmentRescheduled(
        appointment_id=appointment,
        patient_id=patient,
        clinic_id=night,
        provider_id="dr-a",
        previous_starts_at=starts,
        starts_at=starts + timedelta(days=1),
        ends_at=starts + timedelta(days=1, minutes=30),
    )
    async with EventTap(stack.bootstrap, ["followup.scheduled", "followup.cancelled"]) as tap:
        await send_events(stack.bootstrap, [due])
        [scheduled] = await tap.wait_for(mine(patient, "followup.scheduled"), timeout=WAIT)
        await send_events(stack.bootstrap, [moved])
        [cancelled] = await tap.wait_for(mine(patient, "followup.cancelled"), timeout=WAIT)
    assert cancelled.data.followup_id == scheduled.data.followup_id  # type: ignore[attr-defined]
    assert cancelled.data.reason == "appointment_rescheduled"  # type: ignore[attr-defined]
    rows = await query(
        stack.database_url("followup"),
        "SELECT m.status, (SELECT count(*) FROM timers t WHERE t.payload->>'message_request_id' = m.message_request_id)"
        " AS timers FROM messages m WHERE m.followup_id = $1",
        scheduled.data.followup_id,  # type: ignore[attr-defined]
    )
    assert rows == [{"status": "cancelled", "timers": 0}]  # no stale message left behind
    # The same for a cancellation.
    other = uid("appt")
    due2 = due.model_copy(update={"appointment_id": other, "reminder_id": uid("rem")})
    cancelled_appt = AppointmentCancelled(
        appointment_id=other,
        patient_id=patient,
        clinic_id=night,
        provider_id="dr-a",
        starts_at=starts,
        cancelled_at=datetime.now(UTC),
        late=False,
    )
    async with EventTap(stack.bootstrap, ["followup.scheduled", "followup.cancelled"]) as tap:
        await send_events(stack.bootstrap, [due2])
        [scheduled2] = await tap.wait_for(mine(patient, "followup.scheduled"), timeout=WAIT)
        await send_events(stack.bootstrap, [cancelled_appt])
        [cancelled2] = await tap.wait_for(mine(patient, "followup.cancelled"), timeout=WAIT)
    assert cancelled2.data.followup_id == scheduled2.data.followup_id  # type: ignore[attr-defined]
    assert cancelled2.data.reason == "appointment_cancelled"  # type: ignore[attr-defined]


async def test_callbacks_worklist_and_escalation(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)  # callback target 5 minutes
    overdue = CallbackRequested(
        callback_id=uid("cb"),
        clinic_id=clinic_id,
        caller_token=uid("tok"),
        reason="abandoned_call",
        requested_at=datetime.now(UTC) - timedelta(hours=1),
    )
    fresh = CallbackRequested(
        callback_id=uid("cb"),
        clinic_id=clinic_id,
        caller_token=uid("tok"),
        reason="vendor_message",
        requested_at=datetime.now(UTC),
    )
    async with EventTap(stack.bootstrap, ["followup.scheduled", "followup.escalated"]) as tap:
        await send_events(stack.bootstrap, [overdue, fresh])
        await tap.wait_for(lambda e: getattr(e.data, "callback_id", None) == fresh.callback_id, timeout=WAIT)
        [escalated] = await tap.wait_for(
            lambda e: e.type == "followup.escalated" and e.data.task_id == overdue.callback_id,  # type: ignore[attr-defined]
            timeout=WAIT,
        )
    assert escalated.data.reason == "callback_overdue"  # type: ignore[attr-defined]
    worklist = (await _http("GET", f"{followup.url}/v1/clinics/{clinic_id}/callbacks", timeout=10)).json()
    assert {fresh.callback_id, overdue.callback_id} <= {c["callback_id"] for c in worklist}
    async with EventTap(stack.bootstrap, ["callback.completed"]) as tap:
        done = await _http("POST", f"{followup.url}/v1/callbacks/{fresh.callback_id}/complete", timeout=10)
        assert done.status_code == 200
        [completed] = await tap.wait_for(
            lambda e: getattr(e.data, "callback_id", None) == fresh.callback_id, timeout=WAIT
        )
    assert completed.data.clinic_id == clinic_id  # type: ignore[attr-defined]
    again = await _http("POST", f"{followup.url}/v1/callbacks/{fresh.callback_id}/complete", timeout=10)
    assert again.status_code == 200  # done already: no second event (the console's list is unchanged)
    worklist = (await _http("GET", f"{followup.url}/v1/clinics/{clinic_id}/callbacks", timeout=10)).json()
    assert fresh.callback_id not in {c["callback_id"] for c in worklist}
    timers = await query(
        stack.database_url("followup"),
        "SELECT 1 FROM timers WHERE timer_key = $1",
        f"callback-escalate:{fresh.callback_id}",
    )
    assert timers == []
    assert (await _http("POST", f"{followup.url}/v1/callbacks/nope/complete", timeout=10)).status_code == 404


async def test_bad_registration_is_refused_with_a_reason(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    r = await _http("PUT", f"{followup.url}/v1/patients/p-1/contact", json={"phone": "555-1234"}, timeout=10)
    assert r.status_code == 422 and "phone" in r.text
    r = await _http("PUT", f"{followup.url}/v1/patients/p-1/contact", json={"consents": {}}, timeout=10)
    assert r.status_code == 422 and "phone number or an email" in r.text
    r = await _http(
        "PUT",
        f"{followup.url}/v1/patients/p-1/contact",
        json={"phone": "+15555550100", "timezone": "Mars/Base"},
        timeout=10,
    )
    assert r.status_code == 422 and "time zone" in r.text


async def test_transient_failures_retry_and_permanent_ones_are_recorded(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    flaky, dead = uid("pat"), uid("pat")
    # The local sink fails numbers ending in 999 twice (transiently) and numbers ending in 000 for good.
    await register(followup, flaky, phone_for(flaky, "999"))
    await register(followup, dead, phone_for(dead, "000"))
    retried, refused = request(flaky, clinic_id), request(dead, clinic_id)
    async with EventTap(stack.bootstrap, ["message.sent", "message.skipped"]) as tap:
        await send_events(stack.bootstrap, [retried, refused])
        [ok] = await tap.wait_for(of(retried.message_request_id), timeout=WAIT)
        [failed] = await tap.wait_for(of(refused.message_request_id), timeout=WAIT)
    assert ok.type == "message.sent"
    assert (failed.type, failed.data.reason) == ("message.skipped", "permanent_failure")  # type: ignore[attr-defined]
    rows = await query(
        stack.database_url("followup"),
        "SELECT message_request_id, status, attempts, detail,"
        " (SELECT count(*) FROM sink_calls c WHERE c.idempotency_key = m.idempotency_key) AS calls,"
        " (SELECT count(*) FROM sink_deliveries d WHERE d.idempotency_key = m.idempotency_key) AS delivered"
        " FROM messages m WHERE message_request_id = ANY($1::text[])",
        [retried.message_request_id, refused.message_request_id],
    )
    by_id = {r["message_request_id"]: r for r in rows}
    assert by_id[retried.message_request_id] | {"detail": None} == {
        "message_request_id": retried.message_request_id,
        "status": "sent",
        "attempts": 2,
        "detail": None,
        "calls": 3,
        "delivered": 1,
    }
    assert by_id[refused.message_request_id]["status"] == "failed"
    assert by_id[refused.message_request_id]["detail"] == "unreachable_address"
    assert by_id[refused.message_request_id]["delivered"] == 0


async def test_the_latest_visit_sets_the_recall(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    followup = running["followup"]
    clinic_id = await day_clinic(stack, followup)
    patient = uid("pat")
    now = datetime.now(UTC)

    def visit(days_ago: int) -> VisitCompleted:
        return VisitCompleted(
            visit_id=uid("visit"),
            patient_id=patient,
            clinic_id=clinic_id,
            provider_id="dr-a",
            completed_at=now - timedelta(days=days_ago),
        )

    first, second, late_arriving_older = visit(20), visit(10), visit(15)

    def recall(e: Envelope[Event]) -> bool:
        return mine(patient, "followup.scheduled")(e) and getattr(e.data, "kind", None) == "recall"

    async with EventTap(stack.bootstrap, ["followup.scheduled", "followup.cancelled"]) as tap:
        await send_events(stack.bootstrap, [first, first])  # the same visit twice (two event ids)
        await tap.wait_for(recall, timeout=WAIT)
        await send_events(stack.bootstrap, [second])
        await tap.wait_for(recall, 2, timeout=WAIT)
        [superseded] = await tap.wait_for(mine(patient, "followup.cancelled"), timeout=WAIT)
        await send_events(stack.bootstrap, [late_arriving_older])
        await tap.wait_for(
            lambda e: mine(patient, "followup.scheduled")(e) and e.data.visit_id == late_arriving_older.visit_id,  # type: ignore[attr-defined]
            timeout=WAIT,
        )
        await tap.settle(2)
    assert superseded.data.followup_id == f"fu-recall-{first.visit_id}"  # type: ignore[attr-defined]
    assert superseded.data.reason == "superseded"  # type: ignore[attr-defined]
    assert len(tap.matching(recall)) == 2  # none for the older visit that arrived late
    assert len(tap.matching(mine(patient, "followup.cancelled"))) == 1
    plans = (await _http("GET", f"{followup.url}/v1/patients/{patient}/followups", timeout=10)).json()
    open_recalls = [p["visit_id"] for p in plans if p["kind"] == "recall" and p["status"] == "scheduled"]
    assert open_recalls == [second.visit_id]
