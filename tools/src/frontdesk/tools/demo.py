"""Demo traffic for a running stack: calls, booking requests and finished visits, and what came of them.

Every id carries a fresh run id, so the demo can run again and again against the same stack.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from frontdesk.common.cloudevents import Envelope, encode
from frontdesk.common.contracts import (
    AppointmentRequested,
    CallReceived,
    ClinicConfig,
    Event,
    VisitCompleted,
)
from frontdesk.common.kafka import make_producer

from .apply import apply_file, describe, load_clinics
from .tap import EventTap

SOURCE = "frontdesk/demo"
OUTPUTS = ["call.routed", "appointment.booked", "appointment.rejected", "followup.scheduled", "review.scheduled"]


def _wait_for_projection(service_urls: dict[str, str], clinic_ids: set[str], token: str, timeout: float = 60) -> None:
    """Wait until every service has the demo clinics in its own clinic directory."""
    deadline = time.monotonic() + timeout
    for name, url in service_urls.items():
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            url + "/v1/clinics", headers={"Authorization": f"Bearer {token}"}
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our http URL
                    known = {c["clinic_id"] for c in json.load(response)}
                if clinic_ids <= known:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not learn the demo clinics in time")
            time.sleep(0.3)


def build_traffic(run: str, clinics: list[ClinicConfig], now: datetime) -> list[Event]:
    events: list[Event] = []
    for i, clinic in enumerate(clinics):
        events.append(
            CallReceived(
                call_id=f"call-{run}-{i}",
                clinic_id=clinic.clinic_id,
                received_at=now,
                caller_token=f"tok-{run}-{i}",
                intent="new_patient" if i % 2 else "appointment",
            )
        )
    clinic = clinics[0]
    provider = clinic.providers[0].provider_id
    # A day and hour of its own for each run, so that repeated demos do not collide with each other;
    # within a run, the first two requests collide on purpose.
    seed = int(run, 16)
    start = (now + timedelta(days=2 + seed % 300)).replace(hour=8 + seed % 9, minute=0, second=0, microsecond=0)
    # Two requests for the same provider and half hour: exactly one can be booked.
    for n, (offset, patient) in enumerate([(0, "p1"), (0, "p2"), (30, "p3")]):
        events.append(
            AppointmentRequested(
                request_id=f"req-{run}-{n}",
                patient_id=f"pat-{run}-{patient}",
                clinic_id=clinic.clinic_id,
                provider_id=provider,
                appointment_type="new-patient",
                starts_at=start + timedelta(minutes=offset),
                ends_at=start + timedelta(minutes=offset + 30),
            )
        )
    for n, c in enumerate(clinics[:2]):
        events.append(
            VisitCompleted(
                visit_id=f"visit-{run}-{n}",
                patient_id=f"pat-{run}-v{n}",
                clinic_id=c.clinic_id,
                provider_id=c.providers[0].provider_id,
                completed_at=now,
            )
        )
    return events


def _line(event: Event) -> str:
    d = event.model_dump(mode="json")
    kind = event.event_type
    if kind == "call.routed":
        return f"{d['call_id']:>22} at {d['clinic_id']:<12} -> {d['target_kind']} {d['target_id']} ({d['reason']})"
    if kind in ("appointment.booked", "appointment.rejected"):
        extra = f"{d['starts_at']}" if kind.endswith("booked") else f"{d['reason']}: {d['detail']}"
        return f"{d['request_id']:>22} {kind.split('.')[1]:<8} {d['provider_id']} {extra}"
    if kind == "followup.scheduled":
        return f"{d['visit_id']:>22} {d['kind'].replace('_', '-')} due {d['due_at']}"
    return f"{d['visit_id']:>22} review request scheduled, send at {d['send_at']} (quiet hours respected)"


async def run_demo(bootstrap: str, network: Path, service_urls: dict[str, str], token: str) -> int:
    print(f"Applying the demo clinic network ({network.name}):")
    print(describe(await apply_file(network, bootstrap), dry_run=False))
    clinics = load_clinics(network)
    await asyncio.to_thread(_wait_for_projection, service_urls, {c.clinic_id for c in clinics}, token)

    run = uuid.uuid4().hex[:6]
    traffic = build_traffic(run, clinics, datetime.now(UTC))
    # Each finished visit gets a next-day check-in and a recall from followup, and one review request.
    expected = {"call.routed": len(clinics), "booking": 3, "followup.scheduled": 4, "review.scheduled": 2}
    async with EventTap(bootstrap, OUTPUTS) as tap:
        producer = make_producer(bootstrap, client_id="frontdesk-demo")
        await producer.start()
        try:
            for event in traffic:
                record = encode(event, source=SOURCE)
                await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
        finally:
            await producer.stop()
        print(f"\nSent {len(traffic)} events (run {run}): {len(clinics)} calls, 3 booking requests, 2 finished visits.")

        def ours(e: Envelope[Event]) -> bool:
            return run in e.data.model_dump_json()

        await tap.wait_for(lambda e: ours(e) and e.type == "call.routed", expected["call.routed"])
        await tap.wait_for(lambda e: ours(e) and e.type.startswith("appointment."), expected["booking"])
        await tap.wait_for(lambda e: ours(e) and e.type == "followup.scheduled", expected["followup.scheduled"])
        await tap.wait_for(lambda e: ours(e) and e.type == "review.scheduled", expected["review.scheduled"])
        await tap.settle(0.5)
        for title, types in (
            ("Calls (call-router)", ("call.routed",)),
            ("Bookings (scheduler)", ("appointment.booked", "appointment.rejected")),
            ("Follow-up plans (followup)", ("followup.scheduled",)),
            ("Review requests (reviews)", ("review.scheduled",)),
        ):
            print(f"\n{title}:")
            found = [e for e in tap.events if ours(e) and e.type in types]
            for env in sorted(found, key=lambda e: e.data.model_dump_json()):
                print("  " + _line(env.data))
    return await run_simulated_day(bootstrap, service_urls, token)


async def run_simulated_day(bootstrap: str, service_urls: dict[str, str], token: str) -> int:
    """A short compressed day of a small network (`frontdesk simulate` plays longer ones)."""
    from .simulate import SimConfig, simulate

    config = SimConfig(clinics=3, calls_per_day=16, visits_per_day=3, speed=5760, settle_timeout=40)
    print("\nA simulated day (3 clinics in different time zones, compressed to 15 s):")
    result = await simulate(bootstrap, service_urls, config, token=token)
    print(result.format())
    return 0
