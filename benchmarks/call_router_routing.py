"""call-router routing latency with real routing work, against a bare aiokafka passthrough.

The same harness as benchmarks/roundtrip.py (constant offered rate, latency from the *intended* send
time of each call.received to the arrival of its first call.routed, a bare aiokafka passthrough
consumer measured on the same broker in the same run), but the clinics exercise the whole routing
decision instead of the walking skeleton's hunt group: each clinic has 10 receptionists in a pool
(longest idle, round robin, fewest calls or ring all), presence published first, a primary and a
secondary vendor. So each call reads presence, vendor health and the round-robin cursor, makes an
offer (or, once every receptionist holds an offer, skips to the vendor at once), writes the ringing
state and sets a durable ring-timeout timer. Nobody answers: ring timeouts, then each vendor's
answer deadline (12 s, a failover to the other vendor), fire alongside the load and route the calls
on (those later routes are not counted: only attempt 1). The 25 s default warm-up puts the measured
calls in that steady state. Auto-pause is off in the bench pools, so receptionists keep getting
offers instead of all ending up paused after the first misses.

Target (issue 3): p99 under 25 ms at 200 calls/s on the 2-core machine, and throughput within 2x
of the bare passthrough.

Results and what was changed to get them: services/call-router/README.md ("Benchmark").

Run: `.venv/bin/python benchmarks/call_router_routing.py [--rate 200] [--count 2000] [--warmup 5000] [--json]`.
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, are used instead of an ephemeral local stack.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import roundtrip

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import AgentStatusChanged, ClinicConfig
from frontdesk.common.kafka import make_producer
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import ServiceProcess

CLINICS = 6
RECEPTIONISTS = 10
STRATEGIES = ["longest_idle", "round_robin", "fewest_calls", "ring_all"]


def bench_clinics() -> list[ClinicConfig]:
    receptionists = [f"rec-{n}" for n in range(RECEPTIONISTS)]
    return [
        ClinicConfig.model_validate(
            {
                "clinic_id": f"bench-router-{i}",
                "name": f"Bench Clinic {i}",
                "timezone": ["America/New_York", "Europe/London", "Asia/Tokyo"][i % 3],
                "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                "phone": {
                    "receptionists": [{"receptionist_id": r, "languages": ["en", "es"]} for r in receptionists],
                    "pools": [
                        {"pool_id": "desk", "members": receptionists, "strategy": STRATEGIES[i % 4], "autopause": False}
                    ],
                    "answering_service": "bench-vendor-a",
                    "secondary_answering_service": "bench-vendor-b",
                    "vendors": [{"vendor_id": "bench-vendor-a"}, {"vendor_id": "bench-vendor-b"}],
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


if __name__ == "__main__":
    # The harness calls roundtrip.configure_clinics; route it to the bench clinics above.
    roundtrip.configure_clinics = configure_clinics
    # Warm up for 25 s at the default rate: past the vendors' answer targets (12 s, then 12 s more
    # for the secondary), so the measured calls share the router with the failovers of earlier ones,
    # as they would in a long run; and long enough for the broker's JIT compiler to settle.
    roundtrip.WARMUP = 5000
    sys.exit(roundtrip.main())
