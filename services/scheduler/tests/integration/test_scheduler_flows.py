"""The scheduler over the real broker and database: HTTP holds and bookings, the visit lifecycle,
reminders as durable timers, appointment.requested -> booked / rejected, and waitlist backfill."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from frontdesk.common.contracts import AppointmentReplyReceived, AppointmentRequested, ClinicConfig
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

WAIT = 90.0


def scheduling_clinic(clinic_id: str, **scheduling: Any) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Scheduler Test Clinic",
            "timezone": "America/New_York",
            "hours": {d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [
                {"provider_id": f"{clinic_id}-dr-a", "availability": {"mon": ["09:00-12:00"], "tue": ["09:00-12:00"]}},
                {"provider_id": f"{clinic_id}-dr-b"},  # no template of its own: explicit windows at any time
            ],
            "scheduling": {
                "appointment_types": [
                    {"type_id": "checkup", "duration_minutes": 30, "buffer_after_minutes": 10},
                    {"type_id": "quick", "duration_minutes": 15},
                ],
                **scheduling,
            },
        }
    )


async def known_clinic(stack: LocalStack, scheduler: ServiceProcess, config: ClinicConfig) -> str:
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if config.clinic_id in await asyncio.to_thread(scheduler.known_clinics):
            return config.clinic_id
        await asyncio.sleep(0.2)
    raise TimeoutError("the scheduler never learned the clinic")


def next_monday(hour: int, weeks: int = 1) -> datetime:
    """A Monday at `hour` New York time, `weeks` ahead (so min-notice and reminders are in the future)."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    today = datetime.now(ny).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks)
    return datetime(monday.year, monday.month, monday.day, hour, tzinfo=ny)


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
async def client(running: dict[str, ServiceProcess]) -> Any:
    async with running["scheduler"].client(timeout=30) as c:  # a network-wide token
        yield c


async def test_slots_hold_confirm_and_conflicts(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc")))
    dr_a = f"{clinic}-dr-a"
    monday = next_monday(9)
    window = {"start": monday.isoformat(), "end": (monday + timedelta(hours=4)).isoformat()}
    slots = (
        await client.get(
            "/v1/slots", params={"clinic_id": clinic, "appointment_type": "checkup", "provider_id": dr_a, **window}
        )
    ).json()["slots"]
    # 09:00-12:00 with 30-minute visits on a 15-minute grid: 09:00 ... 11:30.
    assert [s["local_start"][11:16] for s in slots][:3] == ["09:00", "09:15", "09:30"]
    assert slots[-1]["local_start"][11:16] == "11:30" and len(slots) == 11

    body = {
        "patient_id": uid("pat"),
        "clinic_id": clinic,
        "provider_id": dr_a,
        "appointment_type": "checkup",
        "starts_at": monday.replace(hour=10).isoformat(),
    }
    async with EventTap(stack.bootstrap, ["appointment.booked", "appointment.held"]) as tap:
        held = await client.post("/v1/holds", json=body, headers=(k := key()))
        assert held.status_code == 201, held.text
        appointment = held.json()
        assert appointment["status"] == "pending" and appointment["hold_expires_at"]
        # The same key again: the same answer, no second hold.
        again = await client.post("/v1/holds", json=body, headers=k)
        assert again.json()["appointment_id"] == appointment["appointment_id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        # The same key for a different request is refused.
        other = await client.post("/v1/holds", json={**body, "patient_id": uid("pat")}, headers=k)
        assert other.status_code == 422
        # A hold holds: the buffer after it (10 min) too.
        clash = await client.post(
            "/v1/holds",
            json={**body, "patient_id": uid("pat"), "starts_at": monday.replace(hour=10, minute=30).isoformat()},
            headers=key(),
        )
        assert clash.status_code == 409, clash.text
        assert clash.json()["conflict"]["starts_at"] == monday.replace(hour=10).astimezone(UTC).isoformat()
        assert clash.json()["alternatives"]
        confirmed = await client.post(f"/v1/holds/{appointment['appointment_id']}/confirm", headers=key())
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "booked"
        events = await tap.wait_for(
            lambda e: getattr(e.data, "appointment_id", None) == appointment["appointment_id"], count=2, timeout=WAIT
        )
        [booked, held_event] = sorted(events, key=lambda e: e.type)
    assert booked.data.request_id == appointment["request_id"]  # type: ignore[attr-defined]
    # The hold was announced once (the repeat changed nothing), with its expiry and no patient.
    assert held_event.type == "appointment.held" and booked.type == "appointment.booked"
    expires = datetime.fromisoformat(appointment["hold_expires_at"])
    assert held_event.data.expires_at == expires  # type: ignore[attr-defined]
    assert "patient_id" not in held_event.data.model_dump()
    slots_after = (
        await client.get(
            "/v1/slots", params={"clinic_id": clinic, "appointment_type": "checkup", "provider_id": dr_a, **window}
        )
    ).json()["slots"]
    starts = {s["local_start"][11:16] for s in slots_after}
    # Held 10:00-10:30 plus 10 minutes of buffer; a candidate's own buffer counts too.
    assert "09:15" in starts and "10:45" in starts
    assert not {"09:30", "10:00", "10:30"} & starts
    # Outside the template, without notice, or without a key: 4xx that say why.
    early = await client.post(
        "/v1/appointments", json={**body, "starts_at": monday.replace(hour=8).isoformat()}, headers=key()
    )
    assert early.status_code == 422 and "availability" in early.json()["detail"]
    missing = await client.post("/v1/appointments", json=body)
    assert missing.status_code == 422 and "Idempotency-Key" in missing.text
    # Reminders are durable timers at 7 days, 2 days and 2 hours before (those still in the future).
    timers = await query(
        stack.database_url("scheduler"),
        "SELECT timer_key, due_at FROM timers WHERE timer_key LIKE $1",
        f"reminder:{appointment['appointment_id']}:%",
    )
    assert len(timers) >= 2


async def test_lifecycle_cancel_reschedule_check_in_complete(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc")))
    dr_b = f"{clinic}-dr-b"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = {
        "patient_id": uid("pat"),
        "clinic_id": clinic,
        "provider_id": dr_b,
        "appointment_type": "checkup",
        "starts_at": start.isoformat(),
    }
    topics = [
        "appointment.rescheduled",
        "appointment.cancelled",
        "appointment.checked_in",
        "visit.completed",
        "appointment.no_show",
    ]
    async with EventTap(stack.bootstrap, topics) as tap:
        a = (await client.post("/v1/appointments", json=body, headers=key())).json()
        moved = await client.post(
            f"/v1/appointments/{a['appointment_id']}/reschedule",
            json={"starts_at": (start + timedelta(hours=1)).isoformat()},
            headers=key(),
        )
        assert moved.status_code == 200 and moved.json()["starts_at"] == (start + timedelta(hours=1)).isoformat()
        timers = await query(
            stack.database_url("scheduler"),
            "SELECT payload FROM timers WHERE timer_key LIKE $1",
            f"reminder:{a['appointment_id']}:%",
        )
        assert timers and all(
            json.loads(t["payload"])["starts_at"] == (start + timedelta(hours=1)).isoformat() for t in timers
        )
        checked = await client.post(f"/v1/appointments/{a['appointment_id']}/check-in", headers=key())
        assert checked.json()["status"] == "checked-in"
        for _ in range(2):  # completing twice: visit.completed once, on the transition
            done = await client.post(f"/v1/appointments/{a['appointment_id']}/complete", json={}, headers=key())
            assert done.status_code == 200 and done.json()["status"] == "fulfilled"
        cannot = await client.post(f"/v1/appointments/{a['appointment_id']}/cancel", json={}, headers=key())
        assert cannot.status_code == 409
        # A second appointment, cancelled within 24 hours: a late cancellation; its reminders go.
        soon = {
            **body,
            "patient_id": uid("pat"),
            "starts_at": (datetime.now(UTC) + timedelta(hours=20)).replace(microsecond=0).isoformat(),
        }
        b = (await client.post("/v1/appointments", json=soon, headers=key())).json()
        cancelled = await client.post(
            f"/v1/appointments/{b['appointment_id']}/cancel", json={"by": "patient"}, headers=key()
        )
        assert cancelled.json()["status_reason"] == "late_cancellation"
        # Two more: one never comes (no-show), one checks in and leaves before being seen.
        c = (
            await client.post(
                "/v1/appointments",
                json={**body, "patient_id": uid("pat"), "starts_at": (start + timedelta(hours=3)).isoformat()},
                headers=key(),
            )
        ).json()
        d = (
            await client.post(
                "/v1/appointments",
                json={**body, "patient_id": uid("pat"), "starts_at": (start + timedelta(hours=4)).isoformat()},
                headers=key(),
            )
        ).json()
        no_show = await client.post(f"/v1/appointments/{c['appointment_id']}/no-show", json={}, headers=key())
        assert no_show.json()["status"] == "noshow" and no_show.json()["status_reason"] == "no_show"
        await client.post(f"/v1/appointments/{d['appointment_id']}/check-in", headers=key())
        cannot_no_show = await client.post(f"/v1/appointments/{d['appointment_id']}/no-show", json={}, headers=key())
        assert cannot_no_show.status_code == 409  # they came: that is a left-without-visit
        left = await client.post(
            f"/v1/appointments/{d['appointment_id']}/no-show", json={"kind": "left_without_visit"}, headers=key()
        )
        assert left.json()["status_reason"] == "left_without_visit"
        ids = {a["appointment_id"], b["appointment_id"], c["appointment_id"], d["appointment_id"]}
        await tap.wait_for(lambda e: getattr(e.data, "appointment_id", None) in ids, count=7, timeout=WAIT)
        await tap.settle(1.0)
    ours = [e for e in tap.events if getattr(e.data, "appointment_id", None) in ids]
    assert sorted(e.type for e in ours) == [
        "appointment.cancelled",
        "appointment.checked_in",
        "appointment.checked_in",
        "appointment.no_show",
        "appointment.no_show",
        "appointment.rescheduled",
        "visit.completed",
    ]
    kinds = {cast(Any, e.data).appointment_id: cast(Any, e.data).kind for e in ours if e.type == "appointment.no_show"}
    assert kinds == {c["appointment_id"]: "no_show", d["appointment_id"]: "left_without_visit"}
    late = next(e for e in ours if e.type == "appointment.cancelled")
    assert late.data.late is True and late.data.by == "patient"  # type: ignore[attr-defined]
    assert (
        await query(
            stack.database_url("scheduler"),
            "SELECT 1 FROM timers WHERE timer_key LIKE $1",
            f"reminder:{b['appointment_id']}:%",
        )
        == []
    )


async def test_hold_expires_and_reminder_fires(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(
        stack, running["scheduler"], scheduling_clinic(uid("sc"), hold_ttl_seconds=10, reminder_offsets=["PT1H"])
    )
    dr_b = f"{clinic}-dr-b"
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1, seconds=5)
    body = {
        "patient_id": uid("pat"),
        "clinic_id": clinic,
        "provider_id": dr_b,
        "appointment_type": "quick",
        "starts_at": soon.isoformat(),
    }
    async with EventTap(stack.bootstrap, ["appointment.reminder_due"]) as tap:
        booked = (await client.post("/v1/appointments", json=body, headers=key())).json()
        [due] = await tap.wait_for(
            lambda e: getattr(e.data, "appointment_id", None) == booked["appointment_id"], timeout=WAIT
        )
    assert due.data.offset == "PT1H"  # type: ignore[attr-defined]
    later = {**body, "patient_id": uid("pat"), "starts_at": (soon + timedelta(days=2)).isoformat()}
    held = (await client.post("/v1/holds", json=later, headers=key())).json()
    deadline = time.monotonic() + WAIT
    while (await client.get(f"/v1/appointments/{held['appointment_id']}")).json()["status"] == "pending":
        assert time.monotonic() < deadline, "the hold never expired"
        await asyncio.sleep(0.5)
    late_confirm = await client.post(f"/v1/holds/{held['appointment_id']}/confirm", headers=key())
    assert late_confirm.status_code == 409
    # The released slot can be booked by someone else.
    again = await client.post("/v1/appointments", json={**later, "patient_id": uid("pat")}, headers=key())
    assert again.status_code == 201


async def test_requested_events_book_or_reject_with_alternatives(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc")))
    monday = next_monday(10, weeks=2)
    requests = [
        AppointmentRequested(
            request_id=uid("req"),
            patient_id=uid("pat"),
            clinic_id=clinic,
            provider_id=f"{clinic}-dr-a",
            appointment_type="checkup",
            starts_at=monday + timedelta(minutes=m),
            ends_at=monday + timedelta(minutes=m + 30),
        )
        for m in (0, 15)
    ]
    outside = AppointmentRequested(
        request_id=uid("req"),
        patient_id=uid("pat"),
        clinic_id=clinic,
        provider_id=f"{clinic}-dr-a",
        appointment_type="checkup",
        starts_at=monday.replace(hour=14),
        ends_at=monday.replace(hour=14, minute=30),
    )
    ids = {r.request_id for r in [*requests, outside]}
    async with EventTap(stack.bootstrap, ["appointment.booked", "appointment.rejected"]) as tap:
        await send_events(stack.bootstrap, [*requests, outside, requests[0]])  # the first one twice
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in ids, count=3, timeout=WAIT)
        await tap.settle(1.5)
    by_request = {e.data.request_id: e for e in tap.events if getattr(e.data, "request_id", None) in ids}  # type: ignore[attr-defined]
    assert len([e for e in tap.events if getattr(e.data, "request_id", None) == requests[0].request_id]) == 1
    # The two overlapping requests are for different patients, so they may be handled on different
    # partitions in either order: exactly one books, the other is refused with alternatives.
    outcomes = sorted((by_request[r.request_id].type, r.request_id) for r in requests)
    assert [kind for kind, _ in outcomes] == ["appointment.booked", "appointment.rejected"], outcomes
    won = next(r for r in requests if r.request_id == outcomes[0][1])
    taken = by_request[outcomes[1][1]]
    assert taken.data.reason == "slot_taken"  # type: ignore[attr-defined]
    alternatives = taken.data.alternatives  # type: ignore[attr-defined]
    assert alternatives and all(a.starts_at >= won.ends_at or a.ends_at <= won.starts_at for a in alternatives)
    assert by_request[outside.request_id].data.reason == "unavailable"  # type: ignore[attr-defined]
    # The dashboards' booking conflicts (the counter lives as long as the process: at least this one).
    async with httpx.AsyncClient(timeout=10) as http:
        exposed = (await http.get(running["scheduler"].ops_url + "/metrics")).text
    conflicts = re.search(r'^frontdesk_scheduler_refusals_total\{reason="slot_taken"\} (\S+)$', exposed, re.M)
    assert conflicts and float(conflicts.group(1)) >= 1


async def test_cancellation_offers_the_slot_to_the_waitlist_first_accept_wins(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc"), waitlist_batch_size=2))
    dr_a = f"{clinic}-dr-a"
    monday = next_monday(11, weeks=3)
    patients = [uid("pat") for _ in range(3)]
    for n, patient in enumerate(patients):  # the third ranks lowest: not in the first batch
        joined = await client.post(
            "/v1/waitlist",
            json={
                "clinic_id": clinic,
                "patient_id": patient,
                "appointment_type": "checkup",
                "provider_id": dr_a,
                "window_start": (monday - timedelta(days=1)).isoformat(),
                "window_end": (monday + timedelta(days=1)).isoformat(),
                "priority": 10 - n,
            },
            headers=key(),
        )
        assert joined.status_code == 201, joined.text
    booked = (
        await client.post(
            "/v1/appointments",
            json={
                "patient_id": uid("pat"),
                "clinic_id": clinic,
                "provider_id": dr_a,
                "appointment_type": "checkup",
                "starts_at": monday.isoformat(),
            },
            headers=key(),
        )
    ).json()
    async with EventTap(stack.bootstrap, ["waitlist.offer", "waitlist.offer_closed", "appointment.cancelled"]) as tap:
        reply = AppointmentReplyReceived(
            appointment_id=booked["appointment_id"],
            patient_id=booked["patient_id"],
            clinic_id=clinic,
            provider_id=dr_a,
            reply="cancel",
            received_at=datetime.now(UTC),
        )
        await send_events(stack.bootstrap, [reply])  # the patient answered "2" to a reminder
        offers = await tap.wait_for(
            lambda e: e.type == "waitlist.offer" and getattr(e.data, "clinic_id", None) == clinic, count=2, timeout=WAIT
        )
        assert {o.data.patient_id for o in offers} == set(patients[:2])  # type: ignore[attr-defined]
        first, second = sorted(offers, key=lambda o: o.data.patient_id != patients[1])  # type: ignore[attr-defined]
        won = await client.post(f"/v1/waitlist/offers/{first.data.offer_id}/accept", headers=key())  # type: ignore[attr-defined]
        assert won.status_code == 201, won.text
        lost = await client.post(f"/v1/waitlist/offers/{second.data.offer_id}/accept", headers=key())  # type: ignore[attr-defined]
        assert lost.status_code == 409 and "no longer available" in lost.json()["detail"]
        closed = await tap.wait_for(
            lambda e: e.type == "waitlist.offer_closed" and getattr(e.data, "clinic_id", None) == clinic,
            count=2,
            timeout=WAIT,
        )
    outcomes = {(data.patient_id, data.outcome) for data in (cast(Any, c.data) for c in closed)}
    assert outcomes == {
        (cast(Any, first.data).patient_id, "accepted"),
        (cast(Any, second.data).patient_id, "taken"),
    }
    confirmed = await client.post(f"/v1/holds/{won.json()['appointment_id']}/confirm", headers=key())
    assert confirmed.json()["status"] == "booked" and confirmed.json()["patient_id"] == first.data.patient_id  # type: ignore[attr-defined]


async def test_an_accepted_offer_that_is_never_confirmed_goes_to_the_next_patient(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(
        stack, running["scheduler"], scheduling_clinic(uid("sc"), waitlist_batch_size=1, hold_ttl_seconds=10)
    )
    dr_a = f"{clinic}-dr-a"
    monday = next_monday(9, weeks=4)
    first, second = uid("pat"), uid("pat")
    for n, patient in enumerate((first, second)):
        await client.post(
            "/v1/waitlist",
            json={
                "clinic_id": clinic,
                "patient_id": patient,
                "appointment_type": "checkup",
                "window_start": (monday - timedelta(days=1)).isoformat(),
                "window_end": (monday + timedelta(days=1)).isoformat(),
                "priority": 5 - n,
            },
            headers=key(),
        )
    booked = (
        await client.post(
            "/v1/appointments",
            json={
                "patient_id": uid("pat"),
                "clinic_id": clinic,
                "provider_id": dr_a,
                "appointment_type": "checkup",
                "starts_at": monday.isoformat(),
            },
            headers=key(),
        )
    ).json()
    async with EventTap(stack.bootstrap, ["waitlist.offer"]) as tap:
        await client.post(f"/v1/appointments/{booked['appointment_id']}/cancel", json={"by": "clinic"}, headers=key())
        [offer] = await tap.wait_for(lambda e: getattr(e.data, "clinic_id", None) == clinic, timeout=WAIT)
        assert cast(Any, offer.data).patient_id == first
        held = await client.post(f"/v1/waitlist/offers/{cast(Any, offer.data).offer_id}/accept", headers=key())
        assert held.status_code == 201 and held.json()["status"] == "pending"
        # Not confirmed: the hold expires (a durable timer) and the slot goes to the next patient.
        offers = await tap.wait_for(lambda e: getattr(e.data, "clinic_id", None) == clinic, count=2, timeout=WAIT)
    assert [cast(Any, o.data).patient_id for o in offers] == [first, second]
    assert (await client.get(f"/v1/appointments/{held.json()['appointment_id']}")).json()[
        "status_reason"
    ] == "hold_expired"


async def test_a_template_set_over_http_replaces_the_configured_one(
    stack: LocalStack, running: dict[str, ServiceProcess], client: httpx.AsyncClient
) -> None:
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc")))
    dr_b = f"{clinic}-dr-b"  # configured without a template: clinic hours, explicit windows any time
    tuesday = next_monday(0, weeks=2) + timedelta(days=1)
    bad = await client.put(
        f"/v1/providers/{dr_b}/availability",
        json={"clinic_id": clinic, "availability": {"tue": ["14:00-13:00"]}},
        headers=key(),
    )
    assert bad.status_code == 422
    put = await client.put(
        f"/v1/providers/{dr_b}/availability",
        json={"clinic_id": clinic, "availability": {"tue": ["13:00-14:00"]}},
        headers=key(),
    )
    assert put.status_code == 200, put.text
    params = {
        "clinic_id": clinic,
        "appointment_type": "checkup",
        "provider_id": dr_b,
        "start": tuesday.isoformat(),
        "end": (tuesday + timedelta(days=1)).isoformat(),
    }
    slots = (await client.get("/v1/slots", params=params)).json()["slots"]
    assert [s["local_start"][11:16] for s in slots] == ["13:00", "13:15", "13:30"]
    body = {
        "patient_id": uid("pat"),
        "clinic_id": clinic,
        "provider_id": dr_b,
        "appointment_type": "checkup",
        "starts_at": tuesday.replace(hour=10).isoformat(),
    }
    outside = await client.post("/v1/appointments", json=body, headers=key())
    assert outside.status_code == 422 and "availability" in outside.json()["detail"]
    reverted = await client.delete(f"/v1/providers/{dr_b}/availability", params={"clinic_id": clinic}, headers=key())
    assert reverted.status_code == 200
    assert (await client.get(f"/v1/providers/{dr_b}/availability", params={"clinic_id": clinic})).json()[
        "availability"
    ] is None
    assert (await client.post("/v1/appointments", json=body, headers=key())).status_code == 201


async def test_idempotency_keys_belong_to_their_client(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    """Two clients that happen to pick the same Idempotency-Key neither replay nor block each other;
    each client's own retry still replays its first answer."""
    clinic = await known_clinic(stack, running["scheduler"], scheduling_clinic(uid("sc")))
    monday = next_monday(9, weeks=4)
    shared = {"Idempotency-Key": "same-key-" + uid("k")}
    answers = []
    for client_name, hour in (("desk-app", 9), ("ehr-feed", 11)):
        token = stack.api_token(clinics=[clinic], subject=f"{client_name}-{uid('c')}")
        body = {
            "patient_id": uid("pat"),
            "clinic_id": clinic,
            "provider_id": f"{clinic}-dr-a",
            "appointment_type": "checkup",
            "starts_at": monday.replace(hour=hour).isoformat(),
        }
        async with httpx.AsyncClient(base_url=running["scheduler"].url, timeout=30) as http:
            headers = {**shared, "Authorization": f"Bearer {token}"}
            first = await http.post("/v1/appointments", json=body, headers=headers)
            again = await http.post("/v1/appointments", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["appointment_id"] == first.json()["appointment_id"]
        answers.append(first.json()["appointment_id"])
    assert answers[0] != answers[1]
