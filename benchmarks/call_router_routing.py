"""call-router routing latency with real routing work, against a bare aiokafka passthrough.

The same harness as benchmarks/roundtrip.py (constant offered rate, latency from the *intended* send
time of each call.received to the arrival of its first call.routed, a bare aiokafka passthrough
consumer measured on the same broker in the same run), but the clinics exercise the whole routing
decision instead of the walking skeleton's hunt group: each clinic has 10 receptionists in a pool
(longest idle, round robin, fewest calls or ring all), presence published first, a primary and a
secondary vendor. So each call reads presence, vendor health and the round-robin cursor, makes an
offer (or, once every receptionist holds an offer, skips to the vendor at once), writes the ringing
state and sets a durable ring-timeout timer; the receptionists never answer, so ring timeouts fire
alongside the load and route the calls on (those later routes are not counted: only attempt 1).
Auto-pause is off in the bench pools, so receptionists keep getting offers instead of all ending up
paused after the first misses. The vendors answer: a stand-in answering service (its own process)
reads the calls handed to it on its own topic and answers each ANSWER_AFTER seconds later on its
events topic, which the router records (and cancels the call's answer deadline).

With --unanswered the vendors answer nothing either: every call's answer deadline (12 s) fails it
over to the other vendor, whose deadline then fires too. That is the worst case for the router's
timers (about two per call on top of the calls), not a normal day.

The 25 s default warm-up puts the measured calls in the steady state: past the vendors' answer
deadlines, and long enough for the broker's JIT compiler to settle.

Target (issue 3): p99 under 25 ms at 200 calls/s on the 2-core machine, and throughput within 2x
of the bare passthrough.

Results and what was changed to get them: services/call-router/README.md ("Benchmark").

Run: `.venv/bin/python benchmarks/call_router_routing.py [--rate 200] [--count 2000] [--warmup 5000]
[--unanswered] [--json]`.
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, are used instead of an ephemeral local stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import roundtrip
from aiokafka import AIOKafkaConsumer

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import AgentStatusChanged, CallAnswered, ClinicConfig, vendor_events_topic
from frontdesk.common.kafka import make_producer
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

CLINICS = 6
RECEPTIONISTS = 10
STRATEGIES = ["longest_idle", "round_robin", "fewest_calls", "ring_all"]
VENDORS = ["bench-vendor-a", "bench-vendor-b"]
ANSWER_AFTER = 2.0  # seconds from hand-over to the vendor's answer (within its 12 s target)


def bench_clinics() -> list[ClinicConfig]:
    receptionists = [f"rec-{n}" for n in range(RECEPTIONISTS)]
    return [
        ClinicConfig.model_validate(
            {
                "clinic_id": f"bench-router-{i}",
                "name": f"Bench Clinic {i}",
                "timezone": ["America/New_York", "Europe/London", "Asia/Tokyo"][i % 3],
                "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                "phone": {
                    "receptionists": [{"receptionist_id": r, "languages": ["en", "es"]} for r in receptionists],
                    "pools": [
                        {"pool_id": "desk", "members": receptionists, "strategy": STRATEGIES[i % 4], "autopause": False}
                    ],
                    "answering_service": VENDORS[0],
                    "secondary_answering_service": VENDORS[1],
                    "vendors": [{"vendor_id": v} for v in VENDORS],
                },
            }
        )
        for i in range(CLINICS)
    ]


def available_count(service: ServiceProcess, clinic_id: str) -> int:
    url = f"{service.url}/v1/clinics/{clinic_id}/agents"
    try:
        request = urllib.request.Request(url, headers=service.auth_headers)  # noqa: S310 - our http URL
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return sum(1 for a in json.load(response) if a["status"] == "available")
    except OSError:
        return 0


async def configure_clinics(bootstrap: str, service: ServiceProcess, timeout: float = 60) -> list[ClinicConfig]:
    """Publish the bench clinics and everyone's presence; wait until the router has applied both."""
    clinics = bench_clinics()
    await publish(bootstrap, clinics)
    deadline = time.monotonic() + timeout
    while not {c.clinic_id for c in clinics} <= await asyncio.to_thread(service.known_clinics):
        if time.monotonic() > deadline:
            raise TimeoutError("call-router did not learn the bench clinics")
        await asyncio.sleep(0.2)
    producer = make_producer(bootstrap, client_id="bench-presence")
    await producer.start()
    try:
        base = datetime.now(UTC) - timedelta(minutes=30)
        for clinic in clinics:
            for n in range(RECEPTIONISTS):
                event = AgentStatusChanged(
                    clinic_id=clinic.clinic_id,
                    receptionist_id=f"rec-{n}",
                    status="available",
                    changed_at=base + timedelta(seconds=n),
                )
                record = encode(event, source=roundtrip.SOURCE)
                await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()
    for clinic in clinics:
        while await asyncio.to_thread(available_count, service, clinic.clinic_id) < RECEPTIONISTS:
            if time.monotonic() > deadline:
                raise TimeoutError("call-router did not apply the receptionists' presence")
            await asyncio.sleep(0.2)
    roundtrip.log(f"{CLINICS} clinics x {RECEPTIONISTS} receptionists available ({', '.join(STRATEGIES)})")
    return clinics


async def answer_calls(bootstrap: str) -> None:
    """The stand-in answering service: every call handed to a bench vendor (call.overflowed on
    vendor.<id>.calls) is answered by that vendor ANSWER_AFTER seconds later, on its events topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id="bench-answering-vendor",
        auto_offset_reset="earliest",
        metadata_max_age_ms=2000,  # the router creates the vendor topics once it knows the clinics
    )
    consumer.subscribe(pattern=r"^vendor\.bench-vendor-[ab]\.calls$")
    producer = make_producer(bootstrap, client_id="bench-answering-vendor", linger_ms=0)
    await consumer.start()
    await producer.start()
    answering: set[asyncio.Task[None]] = set()

    async def answer(vendor_id: str, call_id: str, clinic_id: str) -> None:
        await asyncio.sleep(ANSWER_AFTER)
        answered = CallAnswered(
            call_id=call_id,
            clinic_id=clinic_id,
            answered_at=datetime.now(UTC),
            answered_by_kind="answering_service",
            answered_by_id=vendor_id,
        )
        record = encode(answered, source=f"bench/{vendor_id}", topic=vendor_events_topic(vendor_id))
        await producer.send(record.topic, record.value, key=record.key, headers=record.headers)

    try:
        async for record in consumer:
            if next((v for k, v in record.headers if k == "ce_type"), None) != b"call.overflowed":
                continue  # anything else on a vendor's .calls topic (a page, a withdrawn offer) is no call to answer
            call = json.loads(record.value or b"{}")
            task = asyncio.create_task(answer(record.topic.split(".")[1], call["call_id"], call["clinic_id"]))
            answering.add(task)
            task.add_done_callback(answering.discard)
    finally:
        await consumer.stop()
        await producer.stop()


@contextlib.contextmanager
def answering_vendor(stack: LocalStack) -> Iterator[None]:
    """answer_calls() in a child process of its own, like the bare passthrough."""
    with open(stack.state_dir / "bench-answering-vendor.log", "ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--answering-vendor", stack.bootstrap],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--unanswered", action="store_true")
    parser.add_argument("--answering-vendor", metavar="BOOTSTRAP")  # internal: the child process
    own, rest = parser.parse_known_args()
    if own.answering_vendor:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(answer_calls(own.answering_vendor))
        return 0
    # The harness calls roundtrip.configure_clinics; route it to the bench clinics above.
    roundtrip.configure_clinics = configure_clinics
    roundtrip.WARMUP = 5000  # 25 s at the default rate: see the module docstring
    if own.unanswered:
        roundtrip.log("nobody answers: receptionists' offers ring out, vendors miss their answer targets")
    else:
        roundtrip.log(f"the vendors answer each call handed to them {ANSWER_AFTER:g} s later; receptionists never")
        measure = roundtrip.run_benchmark

        async def run_benchmark(
            settings: roundtrip.Settings, stack: LocalStack, service: ServiceProcess
        ) -> list[roundtrip.PathResult]:
            with answering_vendor(stack):
                return await measure(settings, stack, service)

        roundtrip.run_benchmark = run_benchmark
    return roundtrip.main(rest)


if __name__ == "__main__":
    sys.exit(main())
