"""reviews through the real broker and database: visit -> request -> feedback -> escalation.

The tests act as followup (they publish message.sent / message.skipped themselves, against the
messaging contract), so the real followup process is stopped while this module runs and restarted
afterwards; reviews keeps the first answer to a request, so followup's late answers change nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from frontdesk.common.cloudevents import Envelope, encode
from frontdesk.common.contracts import (
    ClinicConfig,
    ContactPreferenceChanged,
    Event,
    MessageRequested,
    MessageSent,
    MessageSkipped,
    VisitCompleted,
)
from frontdesk.testing.helpers import query, send_events, send_raw, uid
from frontdesk.testing.reviews import DUE_NOW, SITES, WAIT, zone_where
from frontdesk.testing.reviews import direct as _direct
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

TOPICS = [
    "review.scheduled",
    "review.requested",
    "review.skipped",
    "review.received",
    "review.escalated",
    "review.recovery_closed",
    "reputation.summary",
    "message.requested",
]
RUN = uid("rv")
NIGHT_ZONE = zone_where(range(0, 5))


def _clinic(suffix: str, zone: str, **reviews: object) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": f"{RUN}-{suffix}",
            "name": f"Reviews Test Clinic {suffix}",
            "timezone": zone,
            "phone": {"front_desk_pool": "rv-desk", "answering_service": "rv-vendor"},
            "reviews": {"review_sites": SITES, "recovery_deadline_hours": 1, **reviews},
            # A provider at a location where it is night now (the clinic's own zone is chosen per test).
            "providers": [{"provider_id": "dr-rv-annex", "location_id": "annex"}],
            "scheduling": {"locations": [{"location_id": "annex", "timezone": NIGHT_ZONE}]},
        }
    )


@pytest.fixture(scope="module")
def clinics(stack: LocalStack, services: dict[str, ServiceProcess]) -> Iterator[dict[str, ClinicConfig]]:
    """Clinics of our own; the real followup is stopped for the module (the tests answer for it)."""
    for proc in services.values():
        if not proc.process.running():
            proc.start()
    configs = {
        "open": _clinic("open", zone_where(range(9, 19))),
        "other": _clinic("other", zone_where(range(9, 19))),
        "quiet": _clinic("quiet", zone_where(range(0, 5))),
        "strict": _clinic(
            "strict", zone_where(range(9, 19)), feedback_consent="explicit", excluded_visit_types=["behavioral-health"]
        ),
        "nps": _clinic("nps", zone_where(range(9, 19)), rating_scale="nps"),
    }
    asyncio.run(publish(stack.bootstrap, list(configs.values())))
    wanted = {c.clinic_id for c in configs.values()}
    deadline = time.monotonic() + WAIT
    while not wanted <= services["reviews"].known_clinics():
        assert time.monotonic() < deadline, "reviews never learned the test clinics"
        time.sleep(0.2)
    services["followup"].stop()
    try:
        yield configs
    finally:
        services["followup"].start()


@pytest.fixture
async def tap(stack: LocalStack) -> AsyncIterator[EventTap]:
    async with EventTap(stack.bootstrap, TOPICS) as t:
        yield t


def _visit(clinic: ClinicConfig, *, patient: str | None = None, ago: timedelta, **kw: object) -> VisitCompleted:
    return VisitCompleted.model_validate(
        {
            "visit_id": uid("visit"),
            "patient_id": patient or uid("pat"),
            "clinic_id": clinic.clinic_id,
            "provider_id": kw.pop("provider_id", "dr-rv-1"),
            "completed_at": datetime.now(UTC) - ago,
            **kw,
        }
    )


def _of(visit: VisitCompleted, kind: str) -> object:
    return lambda e: e.type == kind and getattr(e.data, "visit_id", None) == visit.visit_id


def _asked(visit: VisitCompleted) -> object:
    return lambda e: e.type == "message.requested" and e.data.message_request_id == f"reviews:rr-{visit.visit_id}"


async def _answer_as_followup(stack: LocalStack, event: Event) -> None:
    await send_events(stack.bootstrap, [event], source="frontdesk/followup")


def _sent(asked: MessageRequested) -> MessageSent:
    return MessageSent(
        message_request_id=asked.message_request_id,
        requested_by="reviews",
        patient_id=asked.patient_id,
        clinic_id=asked.clinic_id,
        channel="sms",
        sent_at=datetime.now(UTC),
    )


async def test_visit_request_feedback_escalation_recovery_and_reputation(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    clinic = clinics["open"]
    provider = uid("dr")
    visit = _visit(clinic, ago=DUE_NOW, provider_id=provider)
    reviews = services["reviews"].url
    await send_events(stack.bootstrap, [visit])

    # The delay is counted from the visit; the window allows the send now; followup is asked.
    [scheduled] = await tap.wait_for(_of(visit, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    assert scheduled.data.send_at == visit.completed_at + timedelta(hours=2)  # type: ignore[attr-defined]
    [envelope] = await tap.wait_for(_asked(visit), timeout=WAIT)  # type: ignore[arg-type]
    asked = envelope.data
    assert isinstance(asked, MessageRequested)
    assert (asked.purpose, asked.requested_by, asked.template) == ("feedback", "reviews", "review-request")
    assert asked.variables["review_links"] == " ".join(s["url"] for s in SITES)
    link = _direct(asked.variables["feedback_link"], services["reviews"].url)
    assert visit.patient_id not in link and visit.visit_id not in link and clinic.clinic_id not in link

    # Acting as followup: it went out.
    await _answer_as_followup(stack, _sent(asked))
    [requested] = await tap.wait_for(_of(visit, "review.requested"), timeout=WAIT)  # type: ignore[arg-type]
    assert requested.data.review_sites == ["google", "healthgrades"]  # type: ignore[attr-defined]
    assert requested.data.channel == "sms"  # type: ignore[attr-defined]

    async with httpx.AsyncClient(timeout=30, headers=services["reviews"].auth_headers) as http:
        page = await http.get(link)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        assert all(s["url"] in page.text for s in SITES)
        assert visit.patient_id not in page.text and provider not in page.text

        bad = await http.post(link, data={"score": "9"})  # stars: 1-5
        assert bad.status_code == 422 and "1-5" in bad.text
        answer = await http.post(link, data={"score": "2", "comment": "The wait was very long"})
        assert answer.status_code == 200, answer.text
        assert all(s["url"] in answer.text for s in SITES)  # public links after a low score too
        again = await http.post(link, data={"score": "5"})
        assert again.status_code == 410  # single use

        [received] = await tap.wait_for(_of(visit, "review.received"), timeout=WAIT)  # type: ignore[arg-type]
        assert (received.data.scale, received.data.score, received.data.has_comment) == ("stars", 2, True)  # type: ignore[attr-defined]
        assert not any(b"wait was very long" in (r.value or b"") for r in tap.raw)  # the comment stays private

        [first] = await tap.wait_for(_of(visit, "review.escalated"), timeout=WAIT)  # type: ignore[arg-type]
        task_id = first.data.recovery_task_id  # type: ignore[attr-defined]
        assert first.data.level == 1  # type: ignore[attr-defined]
        assert first.data.due_at - first.data.escalated_at == timedelta(hours=1)  # type: ignore[attr-defined]
        open_tasks = (await http.get(f"{reviews}/v1/recovery-tasks", params={"clinic_id": clinic.clinic_id})).json()
        assert task_id in {t["recovery_task_id"] for t in open_tasks}

        # Untouched past its deadline: escalated again. (The test moves the durable timer, not the clock.)
        await query(
            stack.database_url("reviews"),
            "UPDATE timers SET due_at = now() WHERE kind = 'review.recovery_deadline' AND payload->>'task_id' = $1",
            task_id,
        )
        await tap.wait_for(
            lambda e: e.type == "review.escalated" and e.data.recovery_task_id == task_id and e.data.level == 2,  # type: ignore[attr-defined]
            timeout=WAIT,
        )

        note = {"note": "Called the patient, apologized for the wait."}
        assert (await http.post(f"{reviews}/v1/recovery-tasks/{task_id}/notes", json=note)).status_code == 200
        bad_note = await http.post(f"{reviews}/v1/recovery-tasks/{task_id}/close", json={"author": "pm jones"})
        assert bad_note.status_code == 422
        closed = await http.post(f"{reviews}/v1/recovery-tasks/{task_id}/close", json={**note, "note": "Resolved."})
        assert closed.status_code == 200 and closed.json()["closed_by"] == "local-admin"  # the token's subject
        assert (await http.post(f"{reviews}/v1/recovery-tasks/{task_id}/close", json=note)).status_code == 409
        [done] = await tap.wait_for(
            lambda e: e.type == "review.recovery_closed" and e.data.recovery_task_id == task_id,  # type: ignore[attr-defined]
            timeout=WAIT,
        )
        assert done.data.within_deadline is True  # type: ignore[attr-defined]
        detail = (await http.get(f"{reviews}/v1/recovery-tasks/{task_id}")).json()
        assert [n["note"] for n in detail["notes"]] == [note["note"], "Resolved."]

        # Reputation: this provider's week.
        rep = (await http.get(f"{reviews}/v1/reputation/{clinic.clinic_id}")).json()
        [mine] = [p for p in rep["providers"] if p["provider_id"] == provider]
        assert (mine["requests_sent"], mine["responses"], mine["response_rate"]) == (1, 1, 1.0)
        assert (mine["average_rating"], mine["escalations"], mine["closed_within_deadline_share"]) == (2.0, 1, 1.0)
        bad_week = await http.get(f"{reviews}/v1/reputation/{clinic.clinic_id}", params={"week": "2026-48"})
        assert bad_week.status_code == 422 and "ISO week" in bad_week.text
        published = await http.post(f"{reviews}/v1/reputation/{clinic.clinic_id}/summaries")
        assert published.status_code == 202
        [summary] = await tap.wait_for(
            lambda e: e.type == "reputation.summary" and e.data.clinic_id == clinic.clinic_id,  # type: ignore[attr-defined]
            timeout=WAIT,
        )
        assert provider in {p.provider_id for p in summary.data.providers}  # type: ignore[attr-defined]

        metrics = (await http.get(services["reviews"].ops_url + "/metrics")).text
        ours = [line for line in metrics.splitlines() if f'provider_id="{provider}"' in line]

        def sample(name: str, label: str) -> str:
            [line] = [x for x in ours if x.startswith(name + "{") and label in x]
            return line.rsplit(" ", 1)[1]

        assert sample("frontdesk_reviews_escalations_total", 'level="2"') == "1.0"
        assert sample("frontdesk_reviews_score_sum", 'scale="stars"') == "2.0"
        assert sample("frontdesk_reviews_requests_total", 'outcome="requested"') == "1.0"


async def test_a_duplicate_visit_completed_never_asks_twice(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    visit = _visit(clinics["open"], ago=DUE_NOW)
    record = encode(visit, source="tests/reviews-duplicate")
    raw = (record.topic, record.key, record.value, record.headers)
    await send_raw(stack.bootstrap, [raw, raw])  # the same record twice
    await send_events(stack.bootstrap, [visit, visit])  # and the same visit under two new event ids
    await tap.wait_for(_asked(visit), timeout=WAIT)  # type: ignore[arg-type]
    await tap.settle(3.0)
    assert len(tap.matching(_asked(visit))) == 1  # type: ignore[arg-type]
    assert len(tap.matching(_of(visit, "review.scheduled"))) == 1  # type: ignore[arg-type]
    rows = await query(
        stack.database_url("reviews"), "SELECT count(*) AS n FROM review_requests WHERE visit_id = $1", visit.visit_id
    )
    assert rows[0]["n"] == 1


async def _skipped(tap: EventTap, visit: VisitCompleted) -> Envelope[Event]:
    [skipped] = await tap.wait_for(_of(visit, "review.skipped"), timeout=WAIT)  # type: ignore[arg-type]
    return skipped


async def test_every_skip_has_its_recorded_reason(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    # An opted-out patient (STOP for feedback, every channel), once reviews has heard of it.
    opted_out = uid("pat")
    stop = ContactPreferenceChanged(
        patient_id=opted_out, purpose="feedback", opted_in=False, changed_at=datetime.now(UTC)
    )
    await send_events(stack.bootstrap, [stop])
    deadline = time.monotonic() + WAIT
    while not await query(
        stack.database_url("reviews"), "SELECT 1 FROM contact_preferences WHERE patient_id = $1", opted_out
    ):
        assert time.monotonic() < deadline, "reviews never recorded the opt-out"
        await asyncio.sleep(0.2)
    stopped = _visit(clinics["open"], patient=opted_out, ago=DUE_NOW)
    # A visit type the clinic excludes; a clinic that needs explicit consent; the 90-day cap at another location.
    excluded = _visit(clinics["strict"], ago=DUE_NOW, visit_type="behavioral-health")
    unconsented = _visit(clinics["strict"], ago=DUE_NOW)
    regular = uid("pat")
    first = _visit(clinics["open"], patient=regular, ago=DUE_NOW)
    await send_events(stack.bootstrap, [stopped, excluded, unconsented, first])
    await tap.wait_for(_of(first, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    second = _visit(clinics["other"], patient=regular, ago=timedelta(minutes=5))  # another location
    # followup's own skip: the visit is asked for, then followup cannot deliver it.
    undeliverable = _visit(clinics["nps"], ago=DUE_NOW)
    await send_events(stack.bootstrap, [second, undeliverable])
    [envelope] = await tap.wait_for(_asked(undeliverable), timeout=WAIT)  # type: ignore[arg-type]
    asked = envelope.data
    assert isinstance(asked, MessageRequested)
    await _answer_as_followup(
        stack,
        MessageSkipped(
            message_request_id=asked.message_request_id,
            requested_by="reviews",
            patient_id=asked.patient_id,
            clinic_id=asked.clinic_id,
            reason="no_contact_details",
        ),
    )

    expected = {
        stopped.visit_id: ("opted_out", "reviews", None),
        excluded.visit_id: ("visit_type_excluded", "reviews", None),
        unconsented.visit_id: ("no_consent", "reviews", None),
        second.visit_id: ("frequency_cap", "reviews", None),
        undeliverable.visit_id: ("not_delivered", "followup", "no_contact_details"),
    }
    for visit in (stopped, excluded, unconsented, second, undeliverable):
        skipped = (await _skipped(tap, visit)).data
        got = (skipped.reason, skipped.decided_by, skipped.delivery_reason)  # type: ignore[attr-defined]
        assert got == expected[visit.visit_id], visit.visit_id
    assert not tap.matching(_asked(stopped)) and not tap.matching(_asked(second))  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=30, headers=services["reviews"].auth_headers) as http:
        [row] = (await http.get(f"{services['reviews'].url}/v1/visits/{stopped.visit_id}/review-requests")).json()
    assert (row["status"], row["skip_reason"]) == ("skipped", "opted_out")


async def test_quiet_hours_hold_the_request_until_the_morning(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    clinic = clinics["quiet"]
    visit = _visit(clinic, ago=DUE_NOW)  # due now by the delay, but it is night at the clinic
    await send_events(stack.bootstrap, [visit])
    [scheduled] = await tap.wait_for(_of(visit, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    send_at = scheduled.data.send_at.astimezone(clinic.zone)  # type: ignore[attr-defined]
    assert (send_at.hour, send_at.minute) == (8, 0)
    assert send_at > datetime.now(UTC)
    await tap.settle(2.0)
    assert not tap.matching(_asked(visit))  # type: ignore[arg-type]


async def test_the_request_waits_for_the_morning_where_the_visit_took_place(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    clinic = clinics["open"]  # daytime at the clinic's address, night at the provider's location
    visit = _visit(clinic, ago=DUE_NOW, provider_id="dr-rv-annex")
    await send_events(stack.bootstrap, [visit])
    [scheduled] = await tap.wait_for(_of(visit, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    send_at = scheduled.data.send_at.astimezone(ZoneInfo(NIGHT_ZONE))  # type: ignore[attr-defined]
    assert (send_at.hour, send_at.minute) == (8, 0)
    await tap.settle(2.0)
    assert not tap.matching(_asked(visit))  # type: ignore[arg-type]


async def test_a_visit_at_an_unknown_clinic_is_skipped_with_that_reason(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    visit = VisitCompleted(
        visit_id=uid("visit"),
        patient_id=uid("pat"),
        clinic_id=uid("nowhere"),
        provider_id="dr-x",
        completed_at=datetime.now(UTC) - DUE_NOW,
    )
    await send_events(stack.bootstrap, [visit])
    await tap.wait_for(_of(visit, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    assert (await _skipped(tap, visit)).data.reason == "unknown_clinic"  # type: ignore[attr-defined]


async def test_an_opt_out_after_the_visit_is_honoured_when_the_request_falls_due(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    visit = _visit(clinics["open"], ago=timedelta(minutes=30))  # due in 90 minutes
    await send_events(stack.bootstrap, [visit])
    await tap.wait_for(_of(visit, "review.scheduled"), timeout=WAIT)  # type: ignore[arg-type]
    stop = ContactPreferenceChanged(
        patient_id=visit.patient_id, purpose="feedback", opted_in=False, changed_at=datetime.now(UTC)
    )
    await send_events(stack.bootstrap, [stop])
    db = stack.database_url("reviews")
    deadline = time.monotonic() + WAIT
    while not await query(db, "SELECT 1 FROM contact_preferences WHERE patient_id = $1", visit.patient_id):
        assert time.monotonic() < deadline, "reviews never recorded the opt-out"
        await asyncio.sleep(0.2)
    # Bring the durable send timer forward (the test moves the timer, not the clock).
    await query(
        db,
        "UPDATE timers SET due_at = now() WHERE kind = 'review.send' AND payload->>'review_request_id' = $1",
        f"rr-{visit.visit_id}",
    )
    skipped = (await _skipped(tap, visit)).data
    assert (skipped.reason, skipped.decided_by) == ("opted_out", "reviews")  # type: ignore[attr-defined]
    assert not tap.matching(_asked(visit))  # type: ignore[arg-type]


async def test_a_high_nps_answer_gets_the_same_public_links_and_no_escalation(
    stack: LocalStack, services: dict[str, ServiceProcess], clinics: dict[str, ClinicConfig], tap: EventTap
) -> None:
    clinic = clinics["nps"]
    visit = _visit(clinic, ago=DUE_NOW)
    await send_events(stack.bootstrap, [visit])
    [envelope] = await tap.wait_for(_asked(visit), timeout=WAIT)  # type: ignore[arg-type]
    asked = envelope.data
    assert isinstance(asked, MessageRequested)
    await _answer_as_followup(stack, _sent(asked))
    await tap.wait_for(_of(visit, "review.requested"), timeout=WAIT)  # type: ignore[arg-type]
    link = _direct(asked.variables["feedback_link"], services["reviews"].url)
    async with httpx.AsyncClient(timeout=30, headers=services["reviews"].auth_headers) as http:
        form = await http.get(link)
        assert form.status_code == 200 and 'value="10"' in form.text and 'value="0"' in form.text  # NPS 0-10
        bad = await http.post(link, json={"score": "ten"})
        assert bad.status_code == 422 and "whole number" in bad.text
        answer = await http.post(link, json={"score": 10})  # JSON works as well as a form post
        assert answer.status_code == 200
        assert all(s["url"] in answer.text for s in SITES)  # the same links as after a low score
        [received] = await tap.wait_for(_of(visit, "review.received"), timeout=WAIT)  # type: ignore[arg-type]
        assert (received.data.scale, received.data.score, received.data.has_comment) == ("nps", 10, False)  # type: ignore[attr-defined]

        draft = await http.post(
            f"{services['reviews'].url}/v1/public-reply-drafts", json={"clinic_id": clinic.clinic_id, "stars": 1}
        )
        assert draft.status_code == 200 and draft.json()["tone"] == "negative"
        text = draft.json()["draft"]
        assert clinic.name in text
        for private in (visit.patient_id, visit.visit_id, visit.provider_id, visit.completed_at.date().isoformat()):
            assert private not in text
        refused = await http.post(
            f"{services['reviews'].url}/v1/public-reply-drafts",
            json={"clinic_id": clinic.clinic_id, "stars": 2, "review_text": "Dr. Smith treated my knee"},
        )
        assert refused.status_code == 422  # the review's text is not accepted at all
    await tap.settle(2.0)
    assert not tap.matching(_of(visit, "review.escalated"))  # type: ignore[arg-type]
