"""followup's API per clinic: every operation against the authorization matrix (authz.py), patients
seen only by the clinics linked to them, lists cut to the token's clinics, and the rate limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from frontdesk.common.contracts import CallbackRequested
from frontdesk.testing.authz import Op, Tokens, check_matrix, exceed_then_recover, replica_with_limits
from frontdesk.testing.followup import phone_for, request, zone_where_local_hour_in
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_followup_messaging import WAIT, clinic

PUBLIC = frozenset({"/v1/webhooks/sms", "/v1/webhooks/receipts"})


@pytest.fixture(scope="module")
def clinics(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[tuple[str, str]]:
    a, b = uid("fa-a"), uid("fa-b")
    zone = zone_where_local_hour_in(10, 18)
    asyncio.run(publish(stack.bootstrap, [clinic(a, zone), clinic(b, zone)]))
    deadline = time.monotonic() + WAIT
    while not {a, b} <= services["followup"].known_clinics():
        assert time.monotonic() < deadline, "followup never learned the test clinics"
        time.sleep(0.2)
    yield a, b


async def _put_contact(http: httpx.AsyncClient, patient: str, headers: dict[str, str]) -> httpx.Response:
    body = {"phone": phone_for(patient), "consents": {"treatment": True, "feedback": True}}
    return await http.put(f"/v1/patients/{patient}/contact", json=body, headers=headers)


async def _callback(stack: LocalStack, followup: ServiceProcess, clinic_id: str) -> str:
    callback = CallbackRequested(
        callback_id=uid("cb"),
        clinic_id=clinic_id,
        caller_token=uid("tok"),
        reason="abandoned_call",
        requested_at=datetime.now(UTC),
    )
    await send_events(stack.bootstrap, [callback])
    deadline = time.monotonic() + WAIT
    async with followup.client(timeout=30) as http:
        while callback.callback_id not in {
            c["callback_id"] for c in (await http.get(f"/v1/clinics/{clinic_id}/callbacks")).json()
        }:
            assert time.monotonic() < deadline, "followup never listed the callback"
            await asyncio.sleep(0.3)
    return callback.callback_id


async def test_every_operation_is_authorized_per_clinic(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    followup = running["followup"]
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    patient = uid("pat")
    async with httpx.AsyncClient(base_url=followup.url, timeout=30) as http:
        assert (await _put_contact(http, patient, t.a)).status_code == 200  # linked to clinic A
    callback_id = await _callback(stack, followup, a)
    db = stack.database_url("followup")

    async def consent_as_a() -> Any:
        async with httpx.AsyncClient(base_url=followup.url, timeout=30, headers=t.a) as http:
            return (await http.get(f"/v1/patients/{patient}/consent")).json()

    async def callback_row() -> Any:
        return await query(db, "SELECT status, completed_by FROM callbacks WHERE callback_id = $1", callback_id)

    ops = [
        Op("GET", "/v1/clinics", "/v1/clinics", b_sees_none_of_a=lambda body: a not in {c["clinic_id"] for c in body}),
        # Marketing: never given, so a change by a refused call would show in the consent view.
        Op(
            "PUT",
            "/v1/patients/{patient_id}/consent/{purpose}",
            f"/v1/patients/{patient}/consent/marketing",
            json={"opted_in": False},
            state=consent_as_a,
        ),
        Op(
            "PUT",
            "/v1/patients/{patient_id}/contact",
            f"/v1/patients/{patient}/contact",
            json={"email": "someone@example.org", "consents": {"treatment": True, "marketing": True}},
            state=consent_as_a,
        ),
        Op("GET", "/v1/patients/{patient_id}/consent", f"/v1/patients/{patient}/consent"),
        Op("GET", "/v1/patients/{patient_id}/followups", f"/v1/patients/{patient}/followups"),
        Op("GET", "/v1/patients/{patient_id}/messages", f"/v1/patients/{patient}/messages"),
        Op("GET", "/v1/clinics/{clinic_id}/callbacks", f"/v1/clinics/{a}/callbacks", params={"status": "all"}),
        Op(
            "POST",
            "/v1/callbacks/{callback_id}/complete",
            f"/v1/callbacks/{callback_id}/complete",
            state=callback_row,
        ),
        Op("GET", "/v1/clinics/{clinic_id}/tasks", f"/v1/clinics/{a}/tasks"),
    ]
    await check_matrix(followup, ops, t, PUBLIC)
    [done] = await callback_row()
    assert done["status"] == "done" and done["completed_by"].endswith("-a")  # A's token's subject


async def test_issue16_item12_a_callback_is_completed_by_the_tokens_subject(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    """Who completed a callback is the token's subject: a body naming someone else is refused (403,
    nothing changes); naming the subject itself or nothing at all records the subject."""
    followup = running["followup"]
    a, _ = clinics
    subject = uid("desk")
    headers = {"Authorization": f"Bearer {stack.api_token(clinics=[a], subject=subject)}"}
    callback_id = await _callback(stack, followup, a)
    db = stack.database_url("followup")
    async with httpx.AsyncClient(base_url=followup.url, timeout=30, headers=headers) as http:
        url = f"/v1/callbacks/{callback_id}/complete"
        impostor = await http.post(url, json={"by": "someone-else"})
        assert impostor.status_code == 403, impostor.text
        [row] = await query(db, "SELECT status, completed_by FROM callbacks WHERE callback_id = $1", callback_id)
        assert row == {"status": "open", "completed_by": None}
        assert (await http.post(url, json={"by": subject})).status_code == 200
    [row] = await query(db, "SELECT status, completed_by FROM callbacks WHERE callback_id = $1", callback_id)
    assert row == {"status": "done", "completed_by": subject}


async def test_a_patient_is_seen_by_the_clinics_linked_to_them(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    followup = running["followup"]
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    registered_by_b, at_both = uid("pat"), uid("pat")
    async with httpx.AsyncClient(base_url=followup.url, timeout=30) as http:
        # Registered with B's token: B's patient; A may neither read nor overwrite it (as if unknown).
        assert (await _put_contact(http, registered_by_b, t.b)).status_code == 200
        assert (await http.get(f"/v1/patients/{registered_by_b}/consent", headers=t.a)).status_code == 404
        assert (await _put_contact(http, registered_by_b, t.a)).status_code == 404
        assert (await http.get(f"/v1/patients/{registered_by_b}/consent", headers=t.a)).status_code == 404
        assert (await http.get(f"/v1/patients/{registered_by_b}/consent", headers=t.b)).status_code == 200
        assert (await http.get(f"/v1/patients/{registered_by_b}/consent", headers=t.network)).status_code == 200
        [linked] = await query(
            stack.database_url("followup"),
            "SELECT clinic_id FROM patient_clinics WHERE patient_id = $1",
            registered_by_b,
        )
        assert linked["clinic_id"] == b

        # Messages at both clinics: each clinic sees the patient, and only its own messages.
        await send_events(stack.bootstrap, [request(at_both, a), request(at_both, b)])
        deadline = time.monotonic() + WAIT
        while len((await http.get(f"/v1/patients/{at_both}/messages", headers=t.network)).json()) < 2:
            assert time.monotonic() < deadline, "followup never recorded both messages"
            await asyncio.sleep(0.3)
        for token, clinic_id in ((t.a, a), (t.b, b)):
            seen = (await http.get(f"/v1/patients/{at_both}/messages", headers=token)).json()
            assert [m["clinic_id"] for m in seen] == [clinic_id]
        # A patient followup knows nothing about, for a clinic token: unknown.
        assert (await http.get(f"/v1/patients/{uid('pat')}/followups", headers=t.a)).status_code == 404


async def test_issue16_item2_a_booking_clinic_cannot_take_over_a_patient(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    """Clinic B registers its patient in followup; clinic A books that patient at the scheduler (a
    network shares patients by id) and then tries to replace the phone number and the consents: 403,
    nothing changes. The network-wide client may change them."""
    followup, scheduler = running["followup"], running["scheduler"]
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    patient = uid("pat")
    db = stack.database_url("followup")

    async def phone() -> str:
        [row] = await query(db, "SELECT phone FROM contacts WHERE patient_id = $1", patient)
        return str(row["phone"])

    deadline = time.monotonic() + WAIT
    while a not in scheduler.known_clinics():
        assert time.monotonic() < deadline, "the scheduler never learned the test clinic"
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=followup.url, timeout=30) as http:
        assert (await _put_contact(http, patient, t.b)).status_code == 200
        registered_phone = await phone()
        starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        booking = {
            "patient_id": patient,
            "clinic_id": a,
            "provider_id": "dr-a",
            "appointment_type": "checkup",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
        }
        booked = await http.post(
            f"{scheduler.url}/v1/appointments", json=booking, headers={**t.a, "Idempotency-Key": uid("key")}
        )
        assert booked.status_code == 201, booked.text
        # followup learns of the appointment: clinic A is now linked to the patient (it may read them).
        while (await http.get(f"/v1/patients/{patient}/consent", headers=t.a)).status_code != 200:
            assert time.monotonic() < deadline, "followup never linked the booking clinic"
            await asyncio.sleep(0.3)
        hijack = {"phone": "+15555550199", "consents": {"treatment": True, "marketing": True}}
        refused = await http.put(f"/v1/patients/{patient}/contact", json=hijack, headers=t.a)
        assert refused.status_code in (403, 404), refused.text
        opt_out = await http.put(f"/v1/patients/{patient}/consent/treatment", json={"opted_in": False}, headers=t.a)
        assert opt_out.status_code in (403, 404), opt_out.text
        assert await phone() == registered_phone
        consent = (await http.get(f"/v1/patients/{patient}/consent", headers=t.b)).json()["consent"]
        assert consent["treatment"] == "granted" and consent["marketing"] != "granted"
        # The registering clinic and the network-wide client may.
        assert (await http.put(f"/v1/patients/{patient}/contact", json=hijack, headers=t.b)).status_code == 200
        changed = {"phone": "+15555550177"}
        assert (await http.put(f"/v1/patients/{patient}/contact", json=changed, headers=t.network)).status_code == 200
        assert await phone() == "+15555550177"


@pytest.fixture(scope="module")
def limited(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[ServiceProcess]:
    with replica_with_limits(stack, "followup", {"contact-changes": 2, "short-links": 2}) as replica:
        yield replica


async def test_message_triggers_and_short_links_are_rate_limited(
    stack: LocalStack, limited: ServiceProcess, clinics: tuple[str, str]
) -> None:
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    patient = uid("pat")
    await query(
        stack.database_url("followup"),
        "INSERT INTO short_links (code, url) VALUES ($1, 'https://example.org/x')",
        code := uuid.uuid4().hex[:9],
    )
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        assert (await _put_contact(http, patient, t.a)).status_code == 200

        async def opt_in() -> httpx.Response:
            return await http.put(f"/v1/patients/{patient}/consent/feedback", json={"opted_in": True}, headers=t.a)

        async def follow_link() -> httpx.Response:
            return await http.get(f"/l/{code}")

        await asyncio.gather(exceed_then_recover(opt_in, 2), exceed_then_recover(follow_link, 2))
