"""Every list route answers pages (issue 16, item 11): `limit` (default 100, at most 500: 422 above),
an opaque `cursor`, and where the next page begins (`X-Next-Cursor` and `Link: rel="next"` on the
routes that answer an array, `next_cursor` in the body of those that answer an object). Walking the
pages of a list shows every row exactly once, in the list's order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from frontdesk.common.contracts import AgentStatusChanged, CallbackRequested, ClinicConfig
from frontdesk.testing.followup import request
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.testing.scheduler import HL7_MEDIA, hl7_update
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

WAIT = 90.0


def _config(clinic_id: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Pagination Test Clinic",
            "timezone": "America/Denver",
            "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"front_desk_pool": f"{clinic_id}-desk", "answering_service": "test-vendor"},
            "providers": [{"provider_id": f"{clinic_id}-dr"}],
        }
    )


async def _clinic(stack: LocalStack, running: dict[str, ServiceProcess]) -> str:
    clinic_id = uid("page")
    await publish(stack.bootstrap, [_config(clinic_id)])
    deadline = time.monotonic() + WAIT
    for service in running.values():
        while clinic_id not in await asyncio.to_thread(service.known_clinics):
            assert time.monotonic() < deadline, f"{service.name} never learned the clinic"
            await asyncio.sleep(0.2)
    return clinic_id


async def _walk(http: httpx.AsyncClient, url: str, **params: Any) -> list[list[Any]]:
    """Every page of an array list of `limit` 2, following `Link: rel="next"` (and checking that
    `X-Next-Cursor` says the same)."""
    pages: list[list[Any]] = []
    response = await http.get(url, params={**params, "limit": 2})
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        following = response.links.get("next")
        if following is None:
            assert "X-Next-Cursor" not in response.headers
            return pages
        assert f"cursor={response.headers['X-Next-Cursor']}" in following["url"]
        response = await http.get(following["url"])


async def _until(what: str, check: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)


async def test_issue16_item11_every_list_route_has_a_maximum_page_and_a_checked_cursor(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = await _clinic(stack, running)
    routes = {
        "followup": [
            f"/v1/clinics/{clinic_id}/callbacks",
            f"/v1/clinics/{clinic_id}/tasks",
            f"/v1/patients/{uid('pat')}/messages",
            f"/v1/patients/{uid('pat')}/followups",
        ],
        "call-router": [f"/v1/clinics/{clinic_id}/agents", f"/v1/clinics/{clinic_id}/digest"],
        "reviews": ["/v1/recovery-tasks"],
        "scheduler": [f"/v1/providers/{clinic_id}-dr/blocks", "/v1/hl7/quarantine"],
    }
    for service, urls in routes.items():
        async with running[service].client(timeout=30) as http:
            for url in urls:
                query_of = {"clinic_id": clinic_id} if service == "reviews" else {}
                assert (await http.get(url, params={**query_of, "limit": 500})).status_code == 200, (service, url)
                too_many = await http.get(url, params={**query_of, "limit": 501})
                assert too_many.status_code == 422, (service, url, too_many.text)
                forged = await http.get(url, params={**query_of, "cursor": "not a cursor"})
                assert forged.status_code == 422 and "cursor" in forged.text, (service, url, forged.text)


async def test_issue16_item11_walking_the_pages_shows_every_row_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = await _clinic(stack, running)
    now = datetime.now(UTC)
    patient = uid("pat")
    await send_events(
        stack.bootstrap,
        [
            *[
                CallbackRequested(
                    callback_id=uid("cb"),
                    clinic_id=clinic_id,
                    caller_token=uid("tok"),
                    reason="abandoned_call",
                    requested_at=now + timedelta(seconds=i),
                )
                for i in range(5)
            ],
            *[request(patient, clinic_id) for _ in range(3)],
            *[
                AgentStatusChanged(
                    clinic_id=clinic_id,
                    receptionist_id=f"r{i}",
                    status="available",
                    changed_at=now + timedelta(seconds=i),
                )
                for i in range(5)
            ],
        ],
    )
    followup, router, scheduler = running["followup"], running["call-router"], running["scheduler"]

    async def all_arrived() -> bool:
        callbacks = await query(
            stack.database_url("followup"), "SELECT 1 FROM callbacks WHERE clinic_id = $1", clinic_id
        )
        messages = await query(stack.database_url("followup"), "SELECT 1 FROM messages WHERE patient_id = $1", patient)
        agents = await query(stack.database_url("call-router"), "SELECT 1 FROM agents WHERE clinic_id = $1", clinic_id)
        return (len(callbacks), len(messages), len(agents)) == (5, 3, 5)

    await _until("the callbacks, messages and agents never all arrived", all_arrived)
    async with scheduler.client(timeout=30) as http:
        start = (now + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
        for i in range(5):
            body = {
                "clinic_id": clinic_id,
                "starts_at": (start + timedelta(hours=i)).isoformat(),
                "ends_at": (start + timedelta(hours=i, minutes=30)).isoformat(),
            }
            added = await http.post(
                f"/v1/providers/{clinic_id}-dr/blocks", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert added.status_code == 201, added.text
        blocks = await _walk(http, f"/v1/providers/{clinic_id}-dr/blocks")
        for _ in range(3):
            quarantined = await http.post(
                f"/v1/hl7/{clinic_id}", content=hl7_update(uid("MSG")), headers={"content-type": HL7_MEDIA}
            )
            assert "|AE|" in quarantined.text
        quarantine = [
            [m for m in page if m["clinic_id"] == clinic_id] for page in await _walk(http, "/v1/hl7/quarantine")
        ]
        only = await http.get("/v1/hl7/quarantine", params={"clinic_id": clinic_id})
        assert only.status_code == 200 and [m["clinic_id"] for m in only.json()] == [clinic_id] * 3
        other = {"authorization": f"Bearer {stack.api_token(['another-clinic'])}"}
        refused = await http.get("/v1/hl7/quarantine", params={"clinic_id": clinic_id}, headers=other)
        assert refused.status_code == 403  # one clinic's quarantine only for a token that sees it
        for i in range(3):
            booking = {
                "patient_id": patient,
                "clinic_id": clinic_id,
                "provider_id": f"{clinic_id}-dr",
                "appointment_type": "checkup",
                "starts_at": (start + timedelta(days=1, hours=i)).isoformat(),
                "ends_at": (start + timedelta(days=1, hours=i, minutes=30)).isoformat(),
            }
            booked = await http.post("/v1/appointments", json=booking, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert booked.status_code == 201, booked.text
        bundles = [(await http.get("/fhir/R4/Appointment", params={"patient": patient, "_count": 2})).json()]
        while next_links := [link["url"] for link in bundles[-1].get("link", []) if link["relation"] == "next"]:
            bundles.append((await http.get(next_links[0])).json())
    assert [len(p) for p in blocks] == [2, 2, 1]
    starts = [b["starts_at"] for p in blocks for b in p]
    assert starts == sorted(starts) and len(set(starts)) == 5
    assert sum(len(p) for p in quarantine) == 3  # newest first, each once
    assert [len(b["entry"]) for b in bundles] == [2, 1]  # FHIR: Bundle.link "next" carries the cursor
    assert len({e["resource"]["id"] for b in bundles for e in b["entry"]}) == 3
    async with followup.client(timeout=30) as http:
        callbacks = await _walk(http, f"/v1/clinics/{clinic_id}/callbacks", status="all")
        messages = await _walk(http, f"/v1/patients/{patient}/messages")
    assert [len(p) for p in callbacks] == [2, 2, 1]
    assert len({c["callback_id"] for p in callbacks for c in p}) == 5
    assert [len(p) for p in messages] == [2, 1]
    async with router.client(timeout=30) as http:
        agents = await _walk(http, f"/v1/clinics/{clinic_id}/agents")
        digest = (await http.get(f"/v1/clinics/{clinic_id}/digest")).json()
    assert [a["receptionist_id"] for p in agents for a in p] == [f"r{i}" for i in range(5)]
    assert digest["messages"] == [] and digest["next_cursor"] is None
