"""reviews' staff API per clinic: every operation against the authorization matrix (authz.py), on real
review requests and recovery tasks of clinic A (visits whose feedback requests followup really sent
and whose links got a low score); the public feedback pages' rate limit per client address."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.authz import Op, Tokens, check_matrix, exceed_then_recover, replica_with_limits
from frontdesk.testing.helpers import query, uid
from frontdesk.testing.reviews import SITES, WAIT, zone_where
from frontdesk.testing.reviews import answered_low as _answered_low
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

PUBLIC = frozenset({"/v1/feedback/{token}"})


def _clinic(clinic_id: str, zone: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Authz Reviews Clinic",
            "timezone": zone,
            "phone": {"front_desk_pool": "rv-desk", "answering_service": "rv-vendor"},
            "reviews": {"review_sites": SITES},
        }
    )


@pytest.fixture(scope="module")
def clinics(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[tuple[str, str]]:
    for proc in services.values():  # followup delivers the requests here (another module stops it)
        if not proc.process.running():
            proc.start()
    a, b = uid("ra-a"), uid("ra-b")
    zone = zone_where(range(9, 19))  # inside reviews' send window and followup's quiet hours
    asyncio.run(publish(stack.bootstrap, [_clinic(a, zone), _clinic(b, zone)]))
    deadline = time.monotonic() + WAIT
    while not ({a, b} <= services["reviews"].known_clinics() and {a, b} <= services["followup"].known_clinics()):
        assert time.monotonic() < deadline, "reviews or followup never learned the test clinics"
        time.sleep(0.2)
    yield a, b


async def test_every_operation_is_authorized_per_clinic(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    reviews = running["reviews"]
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    first, second = await _answered_low(stack, running, a, 2)
    db = stack.database_url("reviews")

    async def notes() -> Any:
        return await query(db, "SELECT count(*) AS n FROM recovery_notes WHERE recovery_task_id = $1", first.task_id)

    async def closed() -> Any:
        return await query(
            db,
            "SELECT recovery_task_id, closed_at FROM recovery_tasks WHERE recovery_task_id = ANY($1::text[])"
            " ORDER BY recovery_task_id",
            [first.task_id, second.task_id],
        )

    note = {"note": "Called the patient back."}
    ops = [
        Op("GET", "/v1/clinics", "/v1/clinics", b_sees_none_of_a=lambda body: a not in {c["clinic_id"] for c in body}),
        Op("GET", "/v1/visits/{visit_id}/review-requests", f"/v1/visits/{first.visit_id}/review-requests"),
        Op("GET", "/v1/recovery-tasks", "/v1/recovery-tasks", params={"clinic_id": a}),
        Op("GET", "/v1/recovery-tasks/{task_id}", f"/v1/recovery-tasks/{first.task_id}"),
        Op(
            "POST",
            "/v1/recovery-tasks/{task_id}/notes",
            f"/v1/recovery-tasks/{first.task_id}/notes",
            json=note,
            state=notes,
        ),
        Op(
            "POST",
            "/v1/recovery-tasks/{task_id}/close",
            f"/v1/recovery-tasks/{first.task_id}/close",
            json=note,
            network_url=f"/v1/recovery-tasks/{second.task_id}/close",  # the first is closed by then
            state=closed,
        ),
        Op("POST", "/v1/public-reply-drafts", "/v1/public-reply-drafts", json={"clinic_id": a, "stars": 4}),
        Op("GET", "/v1/reputation/{clinic_id}", f"/v1/reputation/{a}"),
        Op("POST", "/v1/reputation/{clinic_id}/summaries", f"/v1/reputation/{a}/summaries"),
    ]
    await check_matrix(reviews, ops, t, PUBLIC)
    assert all(row["closed_at"] is not None for row in await closed())
    async with httpx.AsyncClient(base_url=reviews.url, timeout=30) as http:
        # A visit reviews has no request for looks the same to everyone: unknown.
        assert (await http.get(f"/v1/visits/{uid('visit')}/review-requests", headers=t.network)).status_code == 404
        # The patient's page needs no token: the signed link is the proof.
        assert (await http.get(first.link)).status_code == 200


async def test_issue16_item12_a_note_is_written_by_the_tokens_subject(
    stack: LocalStack, running: dict[str, ServiceProcess], clinics: tuple[str, str]
) -> None:
    """The author of a recovery note is the token's subject: a body naming someone else is refused
    (403, no note), and the note is recorded under the subject."""
    reviews = running["reviews"]
    a, _ = clinics
    [answered] = await _answered_low(stack, running, a, 1)
    subject = uid("pm")
    headers = {"Authorization": f"Bearer {stack.api_token(clinics=[a], subject=subject)}"}
    async with httpx.AsyncClient(base_url=reviews.url, timeout=30, headers=headers) as http:
        url = f"/v1/recovery-tasks/{answered.task_id}"
        impostor = await http.post(f"{url}/notes", json={"author": "pm-someone-else", "note": "Not me."})
        assert impostor.status_code == 403, impostor.text
        assert (await http.post(f"{url}/notes", json={"note": "Called back."})).status_code == 200
        closed = await http.post(f"{url}/close", json={"author": subject, "note": "Resolved."})
        assert closed.status_code == 200 and closed.json()["closed_by"] == subject, closed.text
        notes = (await http.get(url)).json()["notes"]
    assert [(n["author"], n["note"]) for n in notes] == [(subject, "Called back."), (subject, "Resolved.")]


@pytest.fixture(scope="module")
def limited(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[ServiceProcess]:
    with replica_with_limits(stack, "reviews", {"feedback-pages": 2, "reputation": 2}) as replica:
        yield replica


async def test_feedback_pages_and_reputation_are_rate_limited(
    stack: LocalStack, limited: ServiceProcess, clinics: tuple[str, str]
) -> None:
    a, b = clinics
    t = Tokens.issue(stack, a, b)
    link = uid("tok")  # the budget is per link (behind an ingress, every patient has one address)
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:

        async def feedback_page() -> httpx.Response:
            response = await http.get(f"/v1/feedback/{link}")
            assert response.status_code in (404, 429), response.text  # an unknown link's page, or the limit
            return response if response.status_code == 429 else httpx.Response(200)

        async def reputation() -> httpx.Response:
            return await http.get(f"/v1/reputation/{a}", headers=t.a)

        await asyncio.gather(exceed_then_recover(feedback_page, 2), exceed_then_recover(reputation, 2))
