"""Object-level authorization of the scheduler's API (issue 8), as a matrix over every operation of its
OpenAPI document: no token -> 401; clinic B's token on clinic A's clinic or object -> 403 / 404 and
nothing changed (clinic A's rows re-read afterwards, and no idempotency key was claimed); a read-only
token on a write -> 403; clinic A's token and a network-wide token -> 2xx. A new route without a row
fails `test_every_operation_has_a_row`. Also: patients shared by clinics, providers working at two
clinics, HL7 deduplication per clinic, and the rate limit on holds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import query, uid
from frontdesk.testing.scheduler import HL7_MEDIA, hl7_update
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

WAIT = 90.0
# The patient's pages: the signed link is the proof (no bearer token); forged links are checked below and
# the pages themselves in test_patient_loops.py.
PUBLIC = frozenset(
    {
        "GET /p/offer/{token}",
        "POST /p/offer/{token}",
        "GET /p/reschedule/{token}",
        "POST /p/reschedule/{token}",
    }
)
# What FHIR clients read before they authenticate (test_fhir_search.py): nothing of any clinic's.
OPEN = frozenset({"GET /fhir/R4/metadata"})
# The clinics' booking pages (tests/integration/test_online_booking.py): a clinic's public page, a signed
# booking link, and the steps, whose forms carry the signed entry of the page they came from.
BOOKING_PUBLIC = frozenset(
    {
        "GET /p/clinics/{clinic_id}/book",
        "GET /p/book/{token}",
        "POST /p/book/start",
        "POST /p/book/times",
        "POST /p/book/hold",
        "POST /p/book/code",
        "POST /p/book/status",
    }
)


def clinic_config(clinic_id: str, shared_provider: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Authorization Test Clinic",
            "timezone": "America/New_York",
            "hours": {d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "phone": {"answering_service": "test-vendor"},
            # No templates: explicit windows at any time (dr-t is for the availability rows).
            "providers": [
                {"provider_id": f"{clinic_id}-dr"},
                {"provider_id": f"{clinic_id}-dr-t"},
                {"provider_id": f"{clinic_id}-dr-w"},
                {"provider_id": shared_provider},
            ],
            "scheduling": {
                "appointment_types": [{"type_id": "checkup", "duration_minutes": 30}],
                "online_booking": "link",  # booking links may be issued; no public page
            },
        }
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Call:
    method: str
    url: str
    params: Any = None
    json: Any = None
    content: bytes | None = None

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")


@dataclass
class Row:
    """One operation: `prepare` makes a fresh request on clinic A's clinic or object (A's objects are
    created as it goes). `kind`: what clinic B's token gets: 403 (a clinic named in the request), 404
    (an object of A's), or, for lists, a 2xx answer in which `shows_a` finds nothing of A's."""

    operation: str
    kind: Literal["clinic", "object", "list"]
    prepare: Callable[[], Awaitable[Call]]
    shows_a: Callable[[httpx.Response], bool] | None = None


class World:
    """Clinics A and B, their tokens, and helpers that create clinic A's objects."""

    def __init__(self, stack: LocalStack, scheduler: ServiceProcess, client: httpx.AsyncClient) -> None:
        run = uuid.uuid4().hex[:8]
        self.a, self.b = f"authz-a-{run}", f"authz-b-{run}"
        self.shared_dr = f"authz-shared-dr-{run}"
        self.stack, self.scheduler, self.client = stack, scheduler, client
        self.token_a = stack.api_token(clinics=[self.a], subject=f"desk-a-{run}")
        self.token_b = stack.api_token(clinics=[self.b], subject=f"desk-b-{run}")
        self.token_a_read = stack.api_token(clinics=[self.a], scopes=("read",), subject=f"viewer-a-{run}")
        self.token_all = stack.api_token(subject=f"network-{run}")
        self.base = (datetime.now(UTC) + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
        self.hours = itertools.count()

    async def setup(self) -> None:
        await publish(
            self.stack.bootstrap, [clinic_config(self.a, self.shared_dr), clinic_config(self.b, self.shared_dr)]
        )
        deadline = time.monotonic() + WAIT
        while not {self.a, self.b} <= await asyncio.to_thread(self.scheduler.known_clinics):
            assert time.monotonic() < deadline, "the scheduler never learned the clinics"
            await asyncio.sleep(0.2)

    def slot(self) -> datetime:
        """A fresh hour of its own: nothing booked by the rows ever collides."""
        return self.base + timedelta(hours=next(self.hours))

    async def send(self, call: Call, token: str | None, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        if token is not None:
            headers.update(bearer(token))
        if call.content is not None:
            headers["content-type"] = HL7_MEDIA
        return await self.client.request(
            call.method, call.url, params=call.params, json=call.json, content=call.content, headers=headers
        )

    async def ok(self, call: Call) -> dict[str, Any]:
        """Run a setup request as the network-wide client."""
        response = await self.send(call, self.token_all)
        assert response.is_success, (call, response.status_code, response.text)
        body: dict[str, Any] = response.json() if "json" in response.headers["content-type"] else {}
        return body

    def booking(self, provider: str | None = None, patient: str | None = None) -> dict[str, Any]:
        return {
            "patient_id": patient or uid("pat"),
            "clinic_id": self.a,
            "provider_id": provider or f"{self.a}-dr",
            "appointment_type": "checkup",
            "starts_at": self.slot().isoformat(),
        }

    async def appointment(self, provider: str | None = None) -> dict[str, Any]:
        return await self.ok(Call("POST", "/v1/appointments", json=self.booking(provider)))

    async def hold(self) -> dict[str, Any]:
        return await self.ok(Call("POST", "/v1/holds", json=self.booking()))

    async def block(self) -> dict[str, Any]:
        start = self.slot()
        body = {
            "clinic_id": self.a,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
        }
        return await self.ok(Call("POST", f"/v1/providers/{self.a}-dr/blocks", json=body))

    async def offer(self) -> str:
        """A waitlist offer for clinic A: a patient waits for a slot that a cancellation then frees."""
        dr = f"{self.a}-dr-w"
        booked = await self.appointment(dr)
        starts, ends = datetime.fromisoformat(booked["starts_at"]), datetime.fromisoformat(booked["ends_at"])
        entry = await self.ok(
            Call(
                "POST",
                "/v1/waitlist",
                json={
                    "clinic_id": self.a,
                    "patient_id": uid("pat"),
                    "appointment_type": "checkup",
                    "provider_id": dr,
                    "window_start": (starts - timedelta(minutes=1)).isoformat(),
                    "window_end": (ends + timedelta(minutes=1)).isoformat(),
                },
            )
        )
        await self.ok(Call("POST", f"/v1/appointments/{booked['appointment_id']}/cancel", json={}))
        [row] = await query(
            self.stack.database_url("scheduler"),
            "SELECT offer_id FROM waitlist_offers WHERE waitlist_id = $1",
            entry["waitlist_id"],
        )
        return str(row["offer_id"])

    async def snapshot(self) -> list[tuple[str, str]]:
        """Everything the scheduler holds about clinic A, as text (any change shows)."""
        rows = await query(
            self.stack.database_url("scheduler"),
            "WITH pats AS (SELECT patient_id FROM appointments WHERE clinic_id = $1"
            "  UNION SELECT patient_id FROM waitlist WHERE clinic_id = $1"
            "  UNION SELECT patient_id FROM patient_clinics WHERE clinic_id = $1)"
            " SELECT 'appointment' AS t, to_jsonb(x)::text AS v FROM appointments x WHERE clinic_id = $1"
            " UNION ALL SELECT 'block', to_jsonb(x)::text FROM provider_blocks x WHERE clinic_id = $1"
            " UNION ALL SELECT 'template', to_jsonb(x)::text FROM provider_templates x WHERE clinic_id = $1"
            " UNION ALL SELECT 'waitlist', to_jsonb(x)::text FROM waitlist x WHERE clinic_id = $1"
            " UNION ALL SELECT 'offer', to_jsonb(x)::text FROM waitlist_offers x WHERE clinic_id = $1"
            " UNION ALL SELECT 'hl7', to_jsonb(x)::text FROM hl7_messages x WHERE clinic_id = $1"
            " UNION ALL SELECT 'patient', to_jsonb(x)::text FROM patients x WHERE patient_id IN (SELECT * FROM pats)"
            " UNION ALL SELECT 'link', to_jsonb(x)::text FROM patient_clinics x"
            " WHERE patient_id IN (SELECT * FROM pats)"
            " ORDER BY 1, 2",
            self.a,
        )
        return [(r["t"], r["v"]) for r in rows]

    def rows(self) -> list[Row]:
        a, dr = self.a, f"{self.a}-dr"

        def fixed(call: Call) -> Callable[[], Awaitable[Call]]:
            async def prepare() -> Call:
                return call

            return prepare

        def on_appointment(suffix: str, json: Any = None) -> Callable[[], Awaitable[Call]]:
            async def prepare() -> Call:
                appointment = await self.appointment()
                body = json(appointment) if callable(json) else json
                return Call("POST", f"/v1/appointments/{appointment['appointment_id']}/{suffix}", json=body)

            return prepare

        async def new_hold() -> Call:
            return Call("POST", "/v1/holds", json=self.booking())

        async def new_booking() -> Call:
            return Call("POST", "/v1/appointments", json=self.booking())

        async def confirm() -> Call:
            held = await self.hold()
            return Call("POST", f"/v1/holds/{held['appointment_id']}/confirm")

        async def read_appointment() -> Call:
            return Call("GET", f"/v1/appointments/{(await self.appointment())['appointment_id']}")

        async def new_block() -> Call:
            start = self.slot()
            end = start + timedelta(minutes=30)
            body = {"clinic_id": a, "starts_at": start.isoformat(), "ends_at": end.isoformat()}
            return Call("POST", f"/v1/providers/{dr}/blocks", json=body)

        async def remove_block() -> Call:
            return Call("DELETE", f"/v1/providers/{dr}/blocks/{(await self.block())['block_id']}")

        async def put_patient() -> Call:
            # Registered by clinic A (booked by the network too): only A and the network change it.
            patient = (await self.appointment())["patient_id"]
            call = Call("PUT", f"/v1/patients/{patient}", json={"display_name": "Test Patient"})
            registered = await self.send(call, self.token_a)
            assert registered.status_code == 200, registered.text
            return call

        async def join_waitlist() -> Call:
            start = self.slot()
            body = {
                "clinic_id": a,
                "patient_id": uid("pat"),
                "appointment_type": "checkup",
                "provider_id": f"{a}-dr-w",
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(minutes=40)).isoformat(),
            }
            return Call("POST", "/v1/waitlist", json=body)

        async def accept() -> Call:
            return Call("POST", f"/v1/waitlist/offers/{await self.offer()}/accept")

        async def hl7() -> Call:
            return Call("POST", f"/v1/hl7/{a}", content=hl7_update(uid("MSG")))

        async def fhir_appointment() -> Call:
            return Call("GET", f"/fhir/R4/Appointment/{(await self.appointment())['appointment_id']}")

        window = {"start": self.base.isoformat(), "end": (self.base + timedelta(days=2)).isoformat()}
        fhir_range = [
            ("start", f"ge{self.base.isoformat()}"),
            ("start", f"lt{(self.base + timedelta(days=2)).isoformat()}"),
        ]
        availability = {"clinic_id": a, "availability": {"tue": ["13:00-14:00"]}}

        def bundle_has_entries(r: httpx.Response) -> bool:
            return bool(r.json().get("entry"))

        return [
            Row(
                "GET /v1/clinics",
                "list",
                fixed(Call("GET", "/v1/clinics")),
                lambda r: a in {c["clinic_id"] for c in r.json()},
            ),
            Row(
                "GET /v1/slots",
                "clinic",
                fixed(Call("GET", "/v1/slots", params={"clinic_id": a, "appointment_type": "checkup", **window})),
            ),
            Row("POST /v1/holds", "clinic", new_hold),
            Row("POST /v1/holds/{appointment_id}/confirm", "object", confirm),
            Row("POST /v1/appointments", "clinic", new_booking),
            Row("GET /v1/appointments/{appointment_id}", "object", read_appointment),
            Row("POST /v1/appointments/{appointment_id}/cancel", "object", on_appointment("cancel", {"by": "clinic"})),
            Row(
                "POST /v1/appointments/{appointment_id}/reschedule",
                "object",
                on_appointment(
                    "reschedule",
                    lambda ap: {
                        "starts_at": (datetime.fromisoformat(ap["starts_at"]) + timedelta(minutes=30)).isoformat()
                    },
                ),
            ),
            Row("POST /v1/appointments/{appointment_id}/check-in", "object", on_appointment("check-in")),
            Row("POST /v1/appointments/{appointment_id}/no-show", "object", on_appointment("no-show", {})),
            Row("POST /v1/appointments/{appointment_id}/complete", "object", on_appointment("complete", {})),
            Row("POST /v1/providers/{provider_id}/blocks", "clinic", new_block),
            Row("GET /v1/providers/{provider_id}/blocks", "object", fixed(Call("GET", f"/v1/providers/{dr}/blocks"))),
            Row("DELETE /v1/providers/{provider_id}/blocks/{block_id}", "object", remove_block),
            Row(
                "PUT /v1/providers/{provider_id}/availability",
                "clinic",
                fixed(Call("PUT", f"/v1/providers/{a}-dr-t/availability", json=availability)),
            ),
            Row(
                "GET /v1/providers/{provider_id}/availability",
                "clinic",
                fixed(Call("GET", f"/v1/providers/{a}-dr-t/availability", params={"clinic_id": a})),
            ),
            Row(
                "DELETE /v1/providers/{provider_id}/availability",
                "clinic",
                fixed(Call("DELETE", f"/v1/providers/{a}-dr-t/availability", params={"clinic_id": a})),
            ),
            Row("PUT /v1/patients/{patient_id}", "object", put_patient),
            Row("POST /v1/waitlist", "clinic", join_waitlist),
            Row(
                "POST /v1/clinics/{clinic_id}/booking-links",
                "clinic",
                fixed(Call("POST", f"/v1/clinics/{a}/booking-links")),
            ),
            Row("POST /v1/waitlist/offers/{offer_id}/accept", "object", accept),
            Row("POST /v1/hl7/{clinic_id}", "clinic", hl7),
            Row(
                "GET /v1/hl7/quarantine",
                "list",
                fixed(Call("GET", "/v1/hl7/quarantine")),
                lambda r: any(m["clinic_id"] == a for m in r.json()),
            ),
            Row("GET /fhir/R4/Appointment/{appointment_id}", "object", fhir_appointment),
            Row(
                "GET /fhir/R4/Appointment",
                "list",
                fixed(Call("GET", "/fhir/R4/Appointment", params={"practitioner": f"Practitioner/{dr}"})),
                bundle_has_entries,
            ),
            Row("GET /fhir/R4/Schedule/{provider_id}", "object", fixed(Call("GET", f"/fhir/R4/Schedule/{dr}"))),
            Row(
                "GET /fhir/R4/Slot",
                "object",
                fixed(Call("GET", "/fhir/R4/Slot", params=[("schedule", f"Schedule/{dr}"), *fhir_range])),
            ),
        ]


@pytest.fixture
async def world(stack: LocalStack, running: dict[str, ServiceProcess]) -> Any:
    scheduler = running["scheduler"]
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=30) as client:
        w = World(stack, scheduler, client)
        await w.setup()
        yield w


async def test_every_operation_has_a_row(world: World) -> None:
    document = (await world.client.get(world.scheduler.ops_url + "/openapi.json")).json()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
    assert {r.operation for r in world.rows()} | PUBLIC | BOOKING_PUBLIC | OPEN == operations


async def test_public_pages_refuse_forged_links_with_a_bearer_token_or_without(world: World) -> None:
    forged = "v1.not-a-signature"
    for operation in sorted(PUBLIC):
        method, path = operation.split(" ")
        url = path.replace("{token}", forged)
        for token in (None, world.token_a):
            response = await world.send(Call(method, url), token)
            assert response.status_code == 404, f"{operation} with token={token is not None}: {response.status_code}"


async def test_booking_pages_open_nothing_without_a_signed_entry_with_a_bearer_token_or_without(
    world: World,
) -> None:
    """A token is no way in: clinic A's page is not public (link only), a forged link is not valid, and a
    step posted without the signed entry of a page is refused, changing nothing."""
    before = await world.snapshot()
    expected = {
        f"GET /p/clinics/{world.a}/book": 404,
        "GET /p/book/v1.not-a-signature": 404,
        "POST /p/book/start": 410,
        "POST /p/book/times": 410,
        "POST /p/book/hold": 410,
        "POST /p/book/code": 410,
        "POST /p/book/status": 410,
    }
    for operation, status in expected.items():
        method, url = operation.split(" ")
        for token in (None, world.token_a):
            response = await world.send(Call(method, url), token)
            assert response.status_code == status, f"{operation} with token={token is not None}: {response.status_code}"
    assert await world.snapshot() == before


async def test_the_authorization_matrix(world: World) -> None:
    # Clinic A's objects that the list rows must show to A and hide from B.
    await world.appointment()
    await world.ok(Call("POST", f"/v1/hl7/{world.a}", content=hl7_update(uid("MSG"))))
    failures: list[str] = []
    for row in world.rows():
        try:
            await check_row(world, row)
        except AssertionError as exc:
            failures.append(f"{row.operation}: {exc}")
    assert not failures, "\n".join(failures)


async def check_row(w: World, row: Row) -> None:
    call = await row.prepare()
    anonymous = await w.send(call, None)
    assert anonymous.status_code == 401, f"no token: {anonymous.status_code}"

    before = await w.snapshot()
    refused_keys = [uuid.uuid4().hex, uuid.uuid4().hex]
    other = await w.send(call, w.token_b, refused_keys[0])
    if row.kind == "list":
        assert other.is_success and row.shows_a is not None and not row.shows_a(other), f"B sees A's: {other.text}"
    else:
        expected = 403 if row.kind == "clinic" else 404
        assert other.status_code == expected, f"B's token: {other.status_code} {other.text}"
    read_only = await w.send(call, w.token_a_read, refused_keys[1])
    if call.writes:
        assert read_only.status_code == 403, f"read-only token on a write: {read_only.status_code}"
    else:
        assert read_only.is_success, f"read-only token on a read: {read_only.status_code} {read_only.text}"
    assert await w.snapshot() == before, "a refused request changed clinic A's data"
    claimed = await query(
        w.stack.database_url("scheduler"),
        "SELECT idempotency_key FROM command_results WHERE idempotency_key = ANY($1)",
        refused_keys,
    )
    assert not claimed, "a refused request claimed its idempotency key"

    mine = await w.send(call, w.token_a)
    assert mine.is_success, f"A's token: {mine.status_code} {mine.text}"
    if row.shows_a is not None:
        assert row.shows_a(mine), f"A does not see its own: {mine.text}"
    network = await w.send(await row.prepare(), w.token_all)
    assert network.is_success, f"network-wide token: {network.status_code} {network.text}"


async def test_issue16_item2_booking_a_patient_grants_no_right_to_their_details(world: World) -> None:
    """Clinic B registers its patient; clinic A may book them by id (a network shares patients) but
    that gives A no right to change their details: 403. The network-wide client may."""
    a, b = bearer(world.token_a), bearer(world.token_b)
    patient = uid("pat")
    url = f"/v1/patients/{patient}"

    def put(headers: dict[str, str], name: str) -> Awaitable[httpx.Response]:
        return world.client.put(
            url,
            json={"display_name": name, "phone": "+15555550100"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )

    async def name() -> str:
        [row] = await query(
            world.stack.database_url("scheduler"), "SELECT display_name FROM patients WHERE patient_id = $1", patient
        )
        return str(row["display_name"])

    # Registered by clinic B: B's patient; clinic A cannot change it (nor tell it exists).
    assert (await put(b, "Registered By B")).status_code == 200
    refused = await put(a, "Changed By A")
    assert refused.status_code == 404 and refused.json() == {"detail": "unknown patient"}
    assert await name() == "Registered By B"
    # Clinic A books the patient (and puts them on its waitlist): allowed, and still no right to their details.
    booked = await world.client.post(
        "/v1/appointments", json=world.booking(patient=patient), headers={**a, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert booked.status_code == 201, booked.text
    taken_over = await put(a, "Changed By A")
    assert taken_over.status_code == 403, taken_over.text
    assert await name() == "Registered By B"
    assert (await put(b, "Changed By B")).status_code == 200
    assert (await put(bearer(world.token_all), "Changed By The Network")).status_code == 200
    assert await name() == "Changed By The Network"
    # FHIR search by patient: each clinic sees its own appointments of the patient only.
    search = {"patient": f"Patient/{patient}"}
    assert len((await world.client.get("/fhir/R4/Appointment", params=search, headers=a)).json()["entry"]) == 1
    assert not (await world.client.get("/fhir/R4/Appointment", params=search, headers=b)).json().get("entry")


async def test_a_patient_first_registered_by_a_booking_clinic_is_theirs(world: World) -> None:
    """A patient nobody registered yet, booked by clinic A: A may register them; B (no link) may not."""
    a, b = bearer(world.token_a), bearer(world.token_b)
    patient = uid("pat")
    booked = await world.client.post(
        "/v1/appointments", json=world.booking(patient=patient), headers={**a, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert booked.status_code == 201, booked.text
    body = {"display_name": "Registered By A"}
    refused = await world.client.put(
        f"/v1/patients/{patient}", json=body, headers={**b, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert refused.status_code == 404
    registered = await world.client.put(
        f"/v1/patients/{patient}", json=body, headers={**a, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert registered.status_code == 200, registered.text


async def test_a_provider_at_two_clinics_shows_each_clinic_its_own_blocks(world: World) -> None:
    start = world.slot()
    url = f"/v1/providers/{world.shared_dr}/blocks"
    for clinic, token in ((world.a, world.token_a), (world.b, world.token_b)):
        body = {
            "clinic_id": clinic,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=20)).isoformat(),
        }
        added = await world.client.post(url, json=body, headers={**bearer(token), "Idempotency-Key": uuid.uuid4().hex})
        assert added.status_code == 201, added.text
        start += timedelta(minutes=30)
    seen_by_b = (await world.client.get(url, headers=bearer(world.token_b))).json()
    assert [blk["clinic_id"] for blk in seen_by_b] == [world.b]
    seen_by_all = (await world.client.get(url, headers=bearer(world.token_all))).json()
    assert [blk["clinic_id"] for blk in seen_by_all] == [world.a, world.b]
    # Clinic B cannot remove clinic A's block of the shared provider.
    a_block = seen_by_all[0]["block_id"]
    refused = await world.client.delete(
        f"{url}/{a_block}", headers={**bearer(world.token_b), "Idempotency-Key": uuid.uuid4().hex}
    )
    assert refused.status_code == 404 and refused.json() == {"detail": "unknown block"}
    assert len((await world.client.get(url, headers=bearer(world.token_a))).json()) == 1


async def test_hl7_messages_are_deduplicated_per_clinic(world: World) -> None:
    control = uid("MSG")
    for clinic, token in ((world.a, world.token_a), (world.b, world.token_b)):
        answer = await world.client.post(
            f"/v1/hl7/{clinic}", content=hl7_update(control), headers={**bearer(token), "content-type": HL7_MEDIA}
        )
        assert answer.status_code == 200 and "|AE|" in answer.text  # each clinic's own message, quarantined
    rows = await query(
        world.stack.database_url("scheduler"),
        "SELECT clinic_id FROM hl7_messages WHERE control_id = $1 ORDER BY clinic_id",
        control,
    )
    assert [r["clinic_id"] for r in rows] == [world.a, world.b]


async def test_holds_are_rate_limited_per_client(world: World) -> None:
    """The default limit (60 holds a minute per token subject). Repeats of one hold (same key) count
    too, so the test books a single slot; then it waits out Retry-After and is served again."""
    token = world.stack.api_token(clinics=[world.a], subject=uid("hoarder"))
    body, key = world.booking(), uuid.uuid4().hex
    headers = {**bearer(token), "Idempotency-Key": key}
    sent = 0
    while (response := await world.client.post("/v1/holds", json=body, headers=headers)).status_code != 429:
        assert response.status_code == 201, response.text
        sent += 1
        assert sent <= 500, "no rate limit on holds"
    assert sent >= 10
    assert "rate limit" in response.json()["detail"]
    wait = int(response.headers["Retry-After"])
    # At most the rest of this minute and the part of the next it takes this full minute's weight to
    # fall under the limit (ratelimit.py's sliding estimate): 62 s when the minute filled at its start.
    assert 1 <= wait <= 70
    # Another client has its own budget.
    other = {**bearer(world.token_a), "Idempotency-Key": uuid.uuid4().hex}
    assert (await world.client.post("/v1/holds", json=world.booking(), headers=other)).status_code == 201
    deadline = time.monotonic() + 150
    while response.status_code == 429:
        assert time.monotonic() < deadline, "still limited long after Retry-After"
        await asyncio.sleep(int(response.headers["Retry-After"]))
        response = await world.client.post("/v1/holds", json=body, headers=headers)
    assert response.status_code == 201 and response.headers.get("Idempotent-Replayed") == "true"
