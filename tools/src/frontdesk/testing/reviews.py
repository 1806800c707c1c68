"""reviews' side of the integration tests that other packages' tests use too: its clinics' review
sites, a time zone at a given local hour, a visit whose review request is due at once, and visits
answered with a low score (their recovery tasks opened) through the real followup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import Event, MessageRequested, VisitCompleted
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .followup import phone_for
from .helpers import send_events, uid

WAIT = 90.0  # generous: the machine is shared
ZONES = [
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
]
SITES = [
    {"site": "google", "url": "https://g.page/r/reviews-test/review"},
    {"site": "healthgrades", "url": "https://www.healthgrades.com/group-directory/reviews-test"},
]


def zone_where(hours: range) -> str:
    """A time zone whose local hour is now in `hours` (there is always one: the zones span 24 hours)."""
    now = datetime.now(UTC)
    for name in ZONES:
        if now.astimezone(ZoneInfo(name)).hour in hours:
            return name
    raise AssertionError(f"no zone at local hours {hours}")  # pragma: no cover


DUE_NOW = timedelta(hours=2, minutes=1)  # with the default 2-hour delay, the request is due at once


def direct(public_link: str, service_url: str) -> str:
    """The public (https) link as the service itself serves it: in production a TLS terminator fronts
    REVIEWS_PUBLIC_BASE_URL; the tests talk to the service's plain-http port directly."""
    return service_url + urlsplit(public_link).path


@dataclass
class Answered:
    visit_id: str
    link: str  # the feedback page, as the service serves it
    task_id: str  # the recovery task its low score opened


def _event(kind: str, field: str, value: str) -> Callable[[Envelope[Event]], bool]:
    return lambda e: e.type == kind and getattr(e.data, field, None) == value


async def answered_low(
    stack: LocalStack, services: dict[str, ServiceProcess], clinic_id: str, n: int
) -> list[Answered]:
    """`n` visits at the clinic whose feedback requests followup sent and whose patients scored 1."""
    patients = [uid("pat") for _ in range(n)]
    async with services["followup"].client(timeout=30) as followup:
        for patient in patients:
            body = {"phone": phone_for(patient), "consents": {"feedback": True}}
            assert (await followup.put(f"/v1/patients/{patient}/contact", json=body)).status_code == 200
    visits = [
        VisitCompleted(
            visit_id=uid("visit"),
            patient_id=patient,
            clinic_id=clinic_id,
            provider_id="dr-authz",
            completed_at=datetime.now(UTC) - DUE_NOW,
        )
        for patient in patients
    ]
    topics = ["message.requested", "review.requested", "review.escalated"]
    answered = []
    async with EventTap(stack.bootstrap, topics) as tap, httpx.AsyncClient(timeout=30) as http:
        await send_events(stack.bootstrap, list(visits))
        for visit in visits:
            asked_for = f"reviews:rr-{visit.visit_id}"
            [asked] = await tap.wait_for(_event("message.requested", "message_request_id", asked_for), timeout=WAIT)
            assert isinstance(asked.data, MessageRequested)
            await tap.wait_for(_event("review.requested", "visit_id", visit.visit_id), timeout=WAIT)
            link = direct(asked.data.variables["feedback_link"], services["reviews"].url)
            assert (await http.post(link, data={"score": "1"})).status_code == 200
            [escalated] = await tap.wait_for(_event("review.escalated", "visit_id", visit.visit_id), timeout=WAIT)
            answered.append(Answered(visit.visit_id, link, escalated.data.recovery_task_id))  # type: ignore[attr-defined]
    return answered
