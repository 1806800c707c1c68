"""The morning rush's outside world, played against the stack: the clinics' configuration, the EHR
(contact registration, yesterday's visits, the morning's bookings, check-in and completion over the
scheduler's API), the phone system (calls, receptionists answering offers, presence) and the
answering-service vendors. It reads only what it must react to, as raw JSON (no decoding into
models), so that the load generator takes as little as it can of the two cores it shares with the
stack under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from rush_plan import Booking, Patient, RushCall, RushPlan

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import (
    AgentStatusChanged,
    AppointmentRequested,
    CallAnswered,
    CallEnded,
    CallReceived,
    Event,
    VisitCompleted,
    vendor_events_topic,
)
from frontdesk.common.kafka import make_producer, make_reader, topic_partitions
from frontdesk.tools.apply import ensure_vendor_topics, publish
from frontdesk.tools.stack import ServiceProcess

SOURCE = "frontdesk/bench-rush"
WATCHED = (
    "call.offered",
    "call.overflowed",
    "agent.auto_paused",
    "appointment.booked",
    "appointment.rejected",
    "followup.sent",
    "followup.failed",
    "message.sent",
    "message.skipped",
)
HTTP_CONCURRENCY = 16  # the EHR's requests in flight at once


def _header(record: Any, name: str) -> str:
    return next((v.decode() for k, v in record.headers if k == name), "")


@dataclass
class CallState:
    plan: RushCall
    offers: int = 0
    answered: bool = False


@dataclass
class Outcomes:
    """What the world saw come back: counts by event type (and follow-up kind), and when each arrived."""

    counts: Counter[str] = field(default_factory=Counter)
    last_at: dict[str, float] = field(default_factory=dict)  # monotonic time of the last one of each kind

    def add(self, kind: str) -> None:
        self.counts[kind] += 1
        self.last_at[kind] = time.monotonic()


class World:
    def __init__(self, bootstrap: str, services: dict[str, ServiceProcess], token: str, plan: RushPlan) -> None:
        self.bootstrap, self.services, self.plan = bootstrap, services, plan
        self.http = httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"})
        self.producer = make_producer(bootstrap, client_id="bench-rush", linger_ms=5)
        self.calls = {c.call_id: CallState(c) for c in plan.calls}
        self.clinic_ids = {c.clinic_id for c in plan.clinics}
        self.appointments: dict[str, str | None] = {}  # request id -> appointment id (None: rejected)
        self.on_call: set[str] = set()  # receptionists talking (an offer to them rings out)
        self.outcomes = Outcomes()
        self.rng = random.Random(plan.config.seed + 1)
        self.sent = 0
        self.http_failures = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: AIOKafkaConsumer | None = None

    # -- plumbing --
    async def __aenter__(self) -> World:
        await self.producer.start()
        partitions = await topic_partitions(self.bootstrap, list(WATCHED))
        self._reader = make_reader(self.bootstrap, "bench-rush-world")
        await self._reader.start()
        self._reader.assign(partitions)
        for tp, offset in (await self._reader.end_offsets(partitions)).items():
            self._reader.seek(tp, offset)
        self._spawn(self._watch())
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reader is not None:
            await self._reader.stop()
        await self.producer.stop()
        await self.http.aclose()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: Event, topic: str | None = None) -> None:
        record = encode(event, source=SOURCE, topic=topic)
        await self.producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        self.sent += 1

    async def _send_all(self, events: Iterable[Event]) -> None:
        for event in events:
            await self._send(event)
        await self.producer.flush()

    async def _requests(self, requests: list[tuple[str, str, dict[str, Any]]]) -> None:
        """HTTP commands (method, url, keyword arguments), HTTP_CONCURRENCY at a time, each retried."""
        gate = asyncio.Semaphore(HTTP_CONCURRENCY)

        async def one(method: str, url: str, kwargs: dict[str, Any]) -> None:
            async with gate:
                await self._http(method, url, **kwargs)

        await asyncio.gather(*(one(m, u, k) for m, u, k in requests))

    async def _http(self, method: str, url: str, **kwargs: Any) -> None:
        for _ in range(30):
            with contextlib.suppress(httpx.HTTPError):
                response = await self.http.request(method, url, **kwargs)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        self.http_failures += 1
                    return
            await asyncio.sleep(1.0)
        self.http_failures += 1

    # -- before T0 --
    async def configure(self, timeout: float = 300) -> None:
        """Publish the clinics and wait until every service has projected them; everyone on shift."""
        await ensure_vendor_topics(self.bootstrap, self.plan.clinics)
        await publish(self.bootstrap, self.plan.clinics)
        deadline = time.monotonic() + timeout
        for service in self.services.values():
            while not self.clinic_ids <= await asyncio.to_thread(service.known_clinics):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service.name} did not learn the {len(self.clinic_ids)} clinics")
                await asyncio.sleep(1)
        earlier = datetime.now(UTC) - timedelta(minutes=30)
        await self._send_all(
            AgentStatusChanged(
                clinic_id=c.clinic_id, receptionist_id=r.receptionist_id, status="available", changed_at=earlier
            )
            for c in self.plan.clinics
            for r in c.phone.receptionists
        )

    async def register(self, patients: list[Patient]) -> None:
        url = self.services["followup"].url + "/v1/patients/{}/contact"
        await self._requests(
            [
                (
                    "PUT",
                    url.format(p.patient_id),
                    {
                        "json": {
                            "phone": p.phone,
                            "timezone": p.zone,
                            "consents": {"treatment": True, "feedback": p.feedback},
                        }
                    },
                )
                for p in patients
            ]
        )

    async def yesterday(self) -> None:
        """Yesterday's completed visits, as the scheduler announced them then."""
        await self._send_all(
            VisitCompleted(
                visit_id=v.visit_id,
                patient_id=v.patient.patient_id,
                clinic_id=v.patient.clinic_id,
                provider_id=v.provider_id,
                completed_at=v.completed_at,
            )
            for v in self.plan.yesterday
        )

    async def book(self, bookings: list[Booking], timeout: float = 300) -> None:
        """The morning's appointments, requested and waited for (their ids are needed to complete them)."""
        await self._send_all(
            AppointmentRequested(
                request_id=b.request_id,
                patient_id=b.patient.patient_id,
                clinic_id=b.patient.clinic_id,
                provider_id=b.provider_id,
                appointment_type="visit",
                starts_at=b.starts_at,
                ends_at=b.starts_at + timedelta(minutes=30),
            )
            for b in bookings
        )
        deadline = time.monotonic() + timeout
        while any(b.request_id not in self.appointments for b in bookings):
            if time.monotonic() > deadline:
                raise TimeoutError("the scheduler did not answer every booking before the rush")
            await asyncio.sleep(0.5)

    # -- from T0 --
    async def play(self, t0_monotonic: float) -> None:
        """Calls and the front desk's completions at their moments of the peak; returns at its end."""
        actions: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (c.at, functools.partial(self._call, c)) for c in self.plan.calls
        ]
        actions += [
            (b.complete_at, functools.partial(self._complete, b))
            for b in self.plan.bookings
            if b.complete_at is not None
        ]
        actions.sort(key=lambda a: a[0])
        for at, action in actions:
            if (wait := t0_monotonic + at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            self._spawn(action())
        await asyncio.sleep(max(0.0, t0_monotonic + self.plan.config.peak_seconds - time.monotonic()))

    def busy(self) -> int:
        """Calls and commands of the world still in flight (talking, waiting to answer, completing)."""
        return len(self._tasks) - 1  # the watcher runs until the end

    async def _call(self, c: RushCall) -> None:
        await self._send(
            CallReceived(
                call_id=c.call_id,
                clinic_id=c.clinic_id,
                received_at=datetime.now(UTC),
                caller_token=f"tok-{c.call_id}",
                intent=c.intent,
                language="en",
            )
        )

    async def _answer(self, state: CallState, kind: str, target: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if state.answered:
            return
        state.answered = True
        c = state.plan
        topic = vendor_events_topic(target) if kind == "answering_service" else None
        answered = CallAnswered(
            call_id=c.call_id,
            clinic_id=c.clinic_id,
            answered_at=datetime.now(UTC),
            answered_by_kind=kind,
            answered_by_id=target,
        )
        await self._send(answered, topic)
        if kind == "receptionist":
            self.on_call.add(target)
            await self._status(c.clinic_id, target, "busy")
        if c.books:
            await self._send(
                AppointmentRequested(
                    request_id=f"req-{c.call_id}",
                    patient_id=c.patient_id,
                    clinic_id=c.clinic_id,
                    provider_id=c.provider_id,
                    appointment_type="visit",
                    starts_at=c.starts_at,
                    ends_at=c.starts_at + timedelta(minutes=30),
                )
            )
        await asyncio.sleep(c.handle)
        await self._send(CallEnded(call_id=c.call_id, clinic_id=c.clinic_id, ended_at=datetime.now(UTC)), topic)
        if kind == "receptionist":
            self.on_call.discard(target)
            await self._status(c.clinic_id, target, "available")

    async def _status(self, clinic_id: str, receptionist: str, status: str) -> None:
        await self._send(
            AgentStatusChanged(
                clinic_id=clinic_id, receptionist_id=receptionist, status=status, changed_at=datetime.now(UTC)
            )
        )

    async def _back_from_pause(self, clinic_id: str, receptionist: str) -> None:
        """Paused by the router after missed offers, the receptionist notices and is back 3 s later
        (as in the simulator): otherwise every desk would end up paused and every call go to a vendor."""
        await asyncio.sleep(3.0)
        if receptionist not in self.on_call:
            await self._status(clinic_id, receptionist, "available")

    async def _complete(self, b: Booking) -> None:
        """The front desk checks the patient in and completes the visit (the scheduler emits visit.completed)."""
        appointment = self.appointments.get(b.request_id)
        if appointment is None:
            return  # its booking was rejected: nothing to complete
        base = f"{self.services['scheduler'].url}/v1/appointments/{appointment}"
        await self._http("POST", f"{base}/check-in", json={}, headers={"Idempotency-Key": f"ci-{b.visit_id}"})
        await self._http(
            "POST", f"{base}/complete", json={"visit_id": b.visit_id}, headers={"Idempotency-Key": f"co-{b.visit_id}"}
        )

    # -- what comes back --
    async def _watch(self) -> None:
        assert self._reader is not None
        while True:
            batches = await self._reader.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    self._react(_header(record, "ce_type"), json.loads(record.value or b"{}"))

    def _react(self, kind: str, data: dict[str, Any]) -> None:
        if data.get("clinic_id") not in self.clinic_ids:
            return
        if kind in ("followup.sent", "followup.failed"):
            self.outcomes.add(f"{kind} {data.get('kind')}")
        elif kind in ("message.sent", "message.skipped"):  # by requester (and why skipped)
            self.outcomes.add(" ".join(filter(None, (kind, data.get("requested_by"), data.get("reason")))))
        else:
            self.outcomes.add(kind)
        if kind in ("appointment.booked", "appointment.rejected"):
            self.appointments[data["request_id"]] = data.get("appointment_id")
        elif kind == "call.offered" and (state := self.calls.get(data["call_id"])) and not state.answered:
            state.offers += 1
            picks = state.plan.picks[min(state.offers, len(state.plan.picks)) - 1]
            if picks and data["target_kind"] != "answering_service" and data["target_id"] not in self.on_call:
                self._spawn(self._answer(state, data["target_kind"], data["target_id"], state.plan.answer_delay))
        elif kind == "call.overflowed" and (state := self.calls.get(data["call_id"])) and not state.answered:
            self._spawn(self._answer(state, "answering_service", data["vendor_id"], self.rng.uniform(2, 6)))
        elif kind == "agent.auto_paused":
            self._spawn(self._back_from_pause(data["clinic_id"], data["receptionist_id"]))
