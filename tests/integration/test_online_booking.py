"""Self-service booking on a clinic's page, over the real broker, databases and services: the page,
a hold, the one-time code as an SMS through followup (sealed on the topic), the code typed,
appointment.booked. Also: two patients racing for one time (one wins, the other picks another), the
abuse limits per number and per address (clear 429s), the same answer whether a number is known or
not, and a booking link issued through the API for a caller."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_patient_loops import WAIT, known_everywhere, phone_of

pytestmark = pytest.mark.integration


def booking_clinic(
    clinic_id: str, zone: str = "America/Denver", online: str = "public", hours: str = "08:00-17:00", **scheduling: Any
) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Lakeside Family Practice",
            "timezone": zone,
            "hours": {d: [hours] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": "test-vendor"},
            "providers": [
                {"provider_id": f"{clinic_id}-dr-a", "display_name": "Dr. Rivera"},
                {"provider_id": f"{clinic_id}-dr-b", "display_name": "Dr. Chen"},
            ],
            "scheduling": {
                "appointment_types": [
                    {"type_id": "checkup", "label": "Check-up", "duration_minutes": 30},
                    {"type_id": "new-visit", "label": "First visit", "duration_minutes": 60, "patients": "new"},
                    {"type_id": "follow-up", "duration_minutes": 20, "patients": "existing"},
                ],
                "online_booking": online,
                "slot_step_minutes": 30,  # times that never overlap: each can be held by someone else
                **scheduling,
            },
            "messaging": {"daily_message_limit": 1000},
        }
    )


@pytest.fixture(scope="module")
def pages(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[ServiceProcess]:
    """A scheduler instance behind one trusted proxy: each test is its own client address (the
    X-Forwarded-For the proxy would append), so the per-address limit is tested, not shared."""
    replica = stack.replica("scheduler", 7)
    replica.env["FRONTDESK_TRUSTED_PROXY_HOPS"] = "1"
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()


def address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


class Patient:
    """One person's browser: a client address and the forms as a browser would post them."""

    def __init__(self, base: str, client: httpx.AsyncClient, addr: str | None = None) -> None:
        self.base, self.client, self.addr = base, client, addr or address()

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(self.base + path, headers={"X-Forwarded-For": self.addr})

    async def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        return await self.client.post(self.base + path, data=form, headers={"X-Forwarded-For": self.addr})


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


def slots(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name=slot value="([^"]+)"', page)]


async def times_for(
    p: Patient, start_path: str, claim: str = "new", type_id: str = "checkup", provider: str = ""
) -> tuple[str, str]:
    """The page's first step done: (entry token, the times page)."""
    first = await p.get(start_path)
    assert first.status_code == 200, first.text
    entry = hidden(first.text, "entry")
    times = await p.post("/p/book/times", {"entry": entry, "claim": claim, "type": type_id, "provider": provider})
    assert times.status_code == 200, times.text
    return entry, times.text


async def hold(p: Patient, entry: str, slot: str, name: str, phone: str, **choice: str) -> httpx.Response:
    form = {
        "entry": entry,
        "claim": "new",
        "type": "checkup",
        "provider": "",
        "slot": slot,
        "name": name,
        "phone": phone,
    }
    return await p.post("/p/book/hold", {**form, **choice})


async def code_sent(stack: LocalStack, phone: str, count: int = 1) -> list[str]:
    """The codes texted to `phone` (as the provider got them), oldest first."""
    deadline = time.monotonic() + WAIT
    while True:
        rows = await query(
            stack.database_url("followup"),
            "SELECT body FROM sink_deliveries WHERE address = $1 AND idempotency_key LIKE 'fd-booking-code-%'"
            " ORDER BY delivered_at",
            phone,
        )
        if len(rows) >= count:
            return [re.findall(r"code is (\d{6})", r["body"])[0] for r in rows]
        assert time.monotonic() < deadline, f"{len(rows)} of {count} codes sent"
        await asyncio.sleep(0.3)


async def test_a_new_patient_books_from_the_page_through_the_code_to_booked(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    phone = phone_of(1)
    typed = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"  # as people type it
    async with (
        httpx.AsyncClient(timeout=30) as client,
        EventTap(stack.bootstrap, ["booking.code_requested", "appointment.booked"]) as tap,
    ):
        p = Patient(pages.url, client)
        start = await p.get(f"/p/clinics/{config.clinic_id}/book")
        assert start.status_code == 200 and "<script" not in start.text and start.headers["cache-control"] == "no-store"
        assert (
            "First available" in start.text and "Dr. Chen" in start.text and "First visit (new patients)" in start.text
        )
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        assert "America/Denver time" in times  # the clinic's zone, said
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Ana María López", typed)
        assert held.status_code == 200 and "holding this time" in held.text, held.text
        assert phone not in str(held.url) and "Ana" not in str(held.url)
        session = hidden(held.text, "session")

        [requested] = await tap.wait_for(lambda e: e.type == "booking.code_requested", timeout=WAIT)
        raw = b"".join(r.value or b"" for r in tap.raw)
        assert phone.encode() not in raw and phone[2:].encode() not in raw  # sealed on the topic
        [code] = await code_sent(stack, phone)
        assert code.encode() not in raw
        body = (
            await query(stack.database_url("followup"), "SELECT body FROM sink_deliveries WHERE address = $1", phone)
        )[0]["body"]
        assert (
            body.startswith("Lakeside Family Practice: your booking code is ") and len(body) <= 160 and "STOP" in body
        )

        form = {
            "entry": entry,
            "session": session,
            "phone": hidden(held.text, "phone"),
            "name": hidden(held.text, "name"),
            "slot": picked,
        }
        wrong = await p.post("/p/book/code", {**form, "code": f"{(int(code) + 1) % 1_000_000:06d}"})
        assert wrong.status_code == 422 and "4 tries left" in wrong.text
        booked = await p.post("/p/book/code", {**form, "code": code[:3] + " " + code[3:]})
        assert booked.status_code == 200 and "You are booked" in booked.text, booked.text
        again = await p.post("/p/book/code", {**form, "code": code})
        assert again.status_code == 410 and "already booked" in again.text

        [event] = await tap.wait_for(
            lambda e: e.type == "appointment.booked" and e.data.clinic_id == config.clinic_id, timeout=WAIT
        )
    [row] = await query(
        stack.database_url("scheduler"),
        "SELECT a.status, a.source, a.patient_id, a.provider_id, p.display_name, p.phone FROM appointments a"
        " JOIN patients p USING (patient_id) WHERE a.appointment_id = $1",
        event.data.appointment_id,
    )
    assert row["status"] == "booked" and row["source"] == "web" and row["patient_id"] == event.data.patient_id
    assert (row["display_name"], row["phone"]) == ("Ana María López", phone)
    assert f"{row['provider_id']}|{event.data.starts_at.isoformat()}" == picked
    stored = await query(
        stack.database_url("scheduler"), "SELECT * FROM booking_verifications WHERE verification_id = $1", session
    )
    assert stored[0]["status"] == "confirmed" and code not in str(dict(stored[0])) and phone not in str(dict(stored[0]))
    assert requested.data.verification_id == session


async def test_times_are_told_in_the_zone_of_the_providers_location(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    """Dr. Rivera works at the clinic's location in Kathmandu (+05:45), Dr. Chen at its address in
    Denver: each one's times read as their day is kept, as the reminders will tell them."""
    doc = booking_clinic(uid("book")).model_dump(mode="json")
    doc["providers"][0]["location_id"] = "annex"
    doc["scheduling"]["locations"] = [{"location_id": "annex", "timezone": "Asia/Kathmandu"}]
    config = ClinicConfig.model_validate(doc)
    await known_everywhere(stack, running, config)
    async with httpx.AsyncClient(timeout=30) as client:
        p = Patient(pages.url, client)
        start = f"/p/clinics/{config.clinic_id}/book"
        _, rivera = await times_for(p, start, provider=f"{config.clinic_id}-dr-a")
        _, anyone = await times_for(p, start)
    assert "Asia/Kathmandu time" in rivera and "America/Denver" not in rivera
    assert {m for m in re.findall(r"\d:(\d\d) [AP]M", rivera)} <= {"00", "30"}  # the template's grid there
    shown = re.findall(r"\d:(\d\d) [AP]M with Dr\. (\w+)", anyone)  # first available: either of them
    assert shown and {m for m, _ in shown} <= {"00", "30"}
    assert ("Asia/Kathmandu time" if {d for _, d in shown} == {"Rivera"} else "local time") in anyone


async def test_two_patients_racing_for_one_time_one_wins_the_other_picks_another(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    provider = f"{config.clinic_id}-dr-a"
    async with httpx.AsyncClient(timeout=30) as client:
        one, two = Patient(pages.url, client), Patient(pages.url, client)
        entry_one, times = await times_for(one, f"/p/clinics/{config.clinic_id}/book", provider=provider)
        entry_two, _ = await times_for(two, f"/p/clinics/{config.clinic_id}/book", provider=provider)
        picked = slots(times)[0]
        answers = await asyncio.gather(
            hold(one, entry_one, picked, "Pat One", phone_of(2), provider=provider),
            hold(two, entry_two, picked, "Pat Two", phone_of(3), provider=provider),
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert "that time was just taken" in loser.text
        others = slots(loser.text)
        assert others and picked not in others
        typed = re.search(r'name=name [^>]*value="([^"]*)"', loser.text)
        assert typed and typed.group(1) in ("Pat One", "Pat Two")  # what they typed is kept, in the page
        retry = await hold(
            two if answers[1] is loser else one,
            hidden(loser.text, "entry"),
            others[0],
            "Pat",
            phone_of(4),
            provider=provider,
        )
        assert retry.status_code == 200 and "holding this time" in retry.text
    held = await query(
        stack.database_url("scheduler"),
        "SELECT starts_at FROM appointments WHERE provider_id = $1 AND status = 'pending'",
        provider,
    )
    assert len(held) == 2 and len({r["starts_at"] for r in held}) == 2  # never two holds of one time


async def test_abuse_limits_per_number_and_per_address_and_the_same_answer_for_any_number(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    known, unknown = phone_of(5), phone_of(6)
    async with running["scheduler"].client(timeout=30) as api:  # a patient on file with this number
        put = await api.put(
            f"/v1/patients/{uid('pat')}",
            json={"display_name": "Kim Park", "phone": known},
            headers={"Idempotency-Key": uid("k")},
        )
        assert put.status_code == 200, put.text
    async with httpx.AsyncClient(timeout=30) as client:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book", provider=f"{config.clinic_id}-dr-a")
        _, more = await times_for(p, f"/p/clinics/{config.clinic_id}/book", provider=f"{config.clinic_id}-dr-b")
        free = iter(slots(times) + slots(more))  # 12 open times of each provider

        def scrub(page: str) -> str:
            page = re.sub(r'value="[^"]*"', "", page)
            # The two holds take the next two open times, which may fall on different days.
            return re.sub(r"\w+day, \w+ \d{1,2}|\d{1,2}:\d{2} [AP]M|Kim Park|Lee Park", "", page)

        answers = [
            await hold(p, entry, next(free), name, phone)
            for name, phone in (("Kim Park", known), ("Lee Park", unknown))
        ]
        assert [a.status_code for a in answers] == [200, 200]
        assert scrub(answers[0].text) == scrub(answers[1].text)  # nothing tells a known number from another

        # Codes per number: three in an hour, then a 429 that says when (from any address).
        statuses = [
            (await hold(Patient(pages.url, client), entry, next(free), "Kim Park", known)).status_code for _ in range(2)
        ]
        assert statuses == [200, 200]
        limited = await hold(Patient(pages.url, client), entry, next(free), "Kim Park", known)
        assert limited.status_code == 429 and "for this phone number" in limited.text
        assert 0 < int(limited.headers["retry-after"]) <= 3600
        # Holds per address: ten in an hour, then a 429 for this address (other addresses unaffected).
        crowd = Patient(pages.url, client)
        for n in range(10):
            ok = await hold(crowd, entry, next(free), "Sam Lee", phone_of(10 + n))
            assert ok.status_code == 200, (n, ok.text)
        refused = await hold(crowd, entry, next(free), "Sam Lee", phone_of(30))
        assert refused.status_code == 429 and "from this connection" in refused.text
        assert (await hold(Patient(pages.url, client), entry, next(free), "Sam Lee", phone_of(31))).status_code == 200
    held = await query(
        stack.database_url("scheduler"),
        "SELECT count(*) AS n FROM appointments WHERE clinic_id = $1 AND status = 'pending'",
        config.clinic_id,
    )
    assert held[0]["n"] == 2 + 2 + 10 + 1  # a refused request held nothing


async def test_too_many_wrong_codes_release_the_time_and_bad_forms_change_nothing(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"))
    await known_everywhere(stack, running, config)
    phone = phone_of(7)
    async with httpx.AsyncClient(timeout=30) as client:
        p = Patient(pages.url, client)
        entry, times = await times_for(p, f"/p/clinics/{config.clinic_id}/book")
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Rae Diaz", phone)
        [code] = await code_sent(stack, phone)
        form = {
            "entry": entry,
            "session": hidden(held.text, "session"),
            "phone": phone,
            "name": "Rae Diaz",
            "slot": picked,
        }
        wrong = f"{(int(code) + 7) % 1_000_000:06d}"
        answers = [await p.post("/p/book/code", {**form, "code": wrong}) for _ in range(5)]
        assert [a.status_code for a in answers] == [422, 422, 422, 422, 410]
        assert "Too many wrong codes" in answers[-1].text
        late = await p.post("/p/book/code", {**form, "code": code})  # the right one, too late
        assert late.status_code == 410 and "You are booked" not in late.text
        # The right code for another number: not accepted either (the code is bound to its number).
        # A forged entry, a cross-site post, a type for existing patients claimed by a new one:
        forged = await p.post("/p/book/times", {"entry": entry[:-3] + "AAA", "claim": "new", "type": "checkup"})
        assert forged.status_code == 410
        cross = await client.post(
            pages.url + "/p/book/times",
            data={"entry": entry, "claim": "new", "type": "checkup"},
            headers={"Origin": "https://evil.example", "X-Forwarded-For": p.addr},
        )
        assert cross.status_code == 403
        fetched = await client.post(
            pages.url + "/p/book/times",
            data={"entry": entry, "claim": "new", "type": "checkup"},
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "null", "X-Forwarded-For": p.addr},
        )
        assert fetched.status_code == 403
        mismatch = await p.post("/p/book/times", {"entry": entry, "claim": "new", "type": "follow-up"})
        assert mismatch.status_code == 422 and "for existing patients" in mismatch.text
        bad_phone = await hold(p, entry, slots(times)[1], "Rae Diaz", "555")
        assert bad_phone.status_code == 422 and "mobile number" in bad_phone.text
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT status, status_reason FROM appointments WHERE clinic_id = $1",
        config.clinic_id,
    )
    assert [(r["status"], r["status_reason"]) for r in rows] == [("cancelled", "hold_released")]


async def test_a_booking_link_for_a_caller_issued_through_the_api_books_once(
    stack: LocalStack, running: dict[str, ServiceProcess], pages: ServiceProcess
) -> None:
    config = booking_clinic(uid("book"), online="link")
    closed = booking_clinic(uid("book"), online="off")
    await known_everywhere(stack, running, config)
    await known_everywhere(stack, running, closed)
    vendor = stack.api_token(clinics=[config.clinic_id], subject=uid("answering"))
    async with httpx.AsyncClient(base_url=pages.url, timeout=30) as api:
        headers: dict[str, Any] = {"Authorization": f"Bearer {vendor}", "Idempotency-Key": uid("k")}
        issued = await api.post(f"/v1/clinics/{config.clinic_id}/booking-links", headers=headers)
        assert issued.status_code == 201, issued.text
        assert (
            await api.post(f"/v1/clinics/{config.clinic_id}/booking-links", headers=headers)
        ).json() == issued.json()
        other = await api.post(
            f"/v1/clinics/{closed.clinic_id}/booking-links", headers={**headers, "Idempotency-Key": uid("k")}
        )
        assert other.status_code == 403  # not this token's clinic
        anonymous = await api.post(
            f"/v1/clinics/{config.clinic_id}/booking-links", headers={"Idempotency-Key": uid("k")}
        )
        assert anonymous.status_code == 401
    url = issued.json()["url"]
    path = "/p/book/" + url.rsplit("/", 1)[1]
    assert config.clinic_id not in url
    phone = phone_of(8)
    async with httpx.AsyncClient(timeout=30) as client:
        p = Patient(pages.url, client)
        public = await p.get(f"/p/clinics/{config.clinic_id}/book")
        assert public.status_code == 404  # this clinic books only through links
        entry, times = await times_for(p, path)
        picked = slots(times)[0]
        held = await hold(p, entry, picked, "Lou Grant", phone)
        [code] = await code_sent(stack, phone)
        form = {
            "entry": entry,
            "session": hidden(held.text, "session"),
            "phone": phone,
            "name": "Lou Grant",
            "slot": picked,
        }
        booked = await p.post("/p/book/code", {**form, "code": code})
        assert booked.status_code == 200 and "You are booked" in booked.text
        used = await p.get(path)
        assert used.status_code == 410 and "has been used" in used.text
        assert (await p.get(path[:-2] + "xx")).status_code == 404
