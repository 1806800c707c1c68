"""The console under load: its consumer lag and its pages' render time, with 50 clinics and a month of
data in its read model while calls flow at 200 calls/s.

- A month of history is seeded into the read model directly (COPY: 50 clinics x 30 days x
  --calls-per-day calls, each answered, abandoned or handed to a vendor; presence; callbacks), its
  hour summaries counted from those calls as the console counts them, then ANALYZEd; the clinics
  themselves are published on `clinic.configured`, as `frontdesk apply` does.
- Calls then flow at --rate per second (constant offered rate, from the intended send times: no
  coordinated omission), spread over the 50 clinics, with the events call-router and the phone
  system publish for each: call.received, call.routed and call.offered at once, then call.answered
  4 s later and call.ended 30 s later (one call in ten abandoned after 20 s instead). The router is
  not in the loop (benchmarks/call_router_routing.py measures it): the console's input is the point.
- Consumer lag: for one call in ten (the probes), the time from the intended send of its
  call.received to its row in the read model (polled every 20 ms), p50/p99/max; and the consumer
  group's lag in records from the console's own metric, sampled each second.
  Baseline in the same run: the same probes read by a bare aiokafka consumer (no decoding, no
  database): what the broker alone takes.
- Page render: a signed-in client asks for Now (a random clinic) and Network (all 50 clinics),
  one request after the other, during the measured window; p50/p99 per page. Baseline in the same
  run: the console's stylesheet from the same process (the HTTP stack, no read model).

Targets (issue 17): lag under 1 s and a page under 100 ms (p99). Nothing here is a test.

Run: `.venv/bin/python benchmarks/console_lag.py [--rate 200] [--seconds 60] [--warmup 15]
[--calls-per-day 300] [--json]`. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, are used instead
of an ephemeral local stack.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallReceived,
    CallRouted,
    ClinicConfig,
    Event,
)
from frontdesk.common.kafka import make_producer
from frontdesk.console import projection
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

SOURCE = "frontdesk/bench"
CLINICS = [f"bench-console-{n:02d}" for n in range(50)]
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Europe/London"]
RECEPTIONISTS = 10
PROBE_EVERY = 10
ANSWER_AFTER, ABANDON_AFTER, END_AFTER = 4.0, 20.0, 30.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values, default=float("nan")) * 1000, 1),
    }


# --- the month of history ------------------------------------------------------------------------


def bench_clinics() -> list[ClinicConfig]:
    return [
        ClinicConfig.model_validate(
            {
                "clinic_id": clinic,
                "name": f"Bench Console Clinic {n}",
                "timezone": ZONES[n % len(ZONES)],
                "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                "phone": {"front_desk_pool": f"desk-{n}", "answering_service": "bench-vendor"},
            }
        )
        for n, clinic in enumerate(CLINICS)
    ]


def month_of_calls(calls_per_day: int, now: datetime) -> list[tuple[Any, ...]]:
    """Rows of console_calls for the 30 days before today: 85% answered, 10% abandoned, 5% to a vendor."""
    rng = random.Random(17)
    rows: list[tuple[Any, ...]] = []
    start = (now - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    for clinic in CLINICS:
        for day in range(30):
            for n in range(calls_per_day):
                at = start + timedelta(days=day, seconds=rng.uniform(0, 86_000))
                wait, kind = rng.expovariate(1 / 15), rng.random()
                answered = at + timedelta(seconds=wait) if kind < 0.85 else None
                abandoned = at + timedelta(seconds=wait) if 0.85 <= kind < 0.95 else None
                vendor = kind >= 0.95
                rows.append(
                    (
                        f"hist-{clinic}-{day}-{n}",
                        clinic,
                        at,
                        "appointment",
                        at,
                        "pool",
                        "desk",
                        "bench-vendor" if vendor else None,
                        at + timedelta(seconds=30) if vendor else None,
                        at + timedelta(seconds=75) if vendor else None,
                        answered or (at + timedelta(seconds=50) if vendor else None),
                        "answering_service" if vendor else ("receptionist" if answered else None),
                        "bench-vendor" if vendor else (f"rcp-{n % RECEPTIONISTS}" if answered else None),
                        abandoned,
                        None if abandoned else at + timedelta(seconds=wait + 180),
                    )
                )
    return rows


CALL_COLUMNS = [
    "call_id",
    "clinic_id",
    "received_at",
    "intent",
    "offered_at",
    "offered_kind",
    "offered_to",
    "vendor_id",
    "overflowed_at",
    "vendor_answer_by",
    "answered_at",
    "answered_by_kind",
    "answered_by_id",
    "abandoned_at",
    "ended_at",
]


async def seed_month(url: str, calls_per_day: int) -> int:
    now = datetime.now(UTC)
    calls = month_of_calls(calls_per_day, now)
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("console_calls", records=calls, columns=CALL_COLUMNS)
        agents = [(c, f"rcp-{n}", "available", None, now) for c in CLINICS for n in range(RECEPTIONISTS)]
        await conn.copy_records_to_table(
            "console_agents", records=agents, columns=["clinic_id", "receptionist_id", "status", "reason", "changed_at"]
        )
        callbacks = [(f"cb-{row[0]}", row[1], "abandoned_call", "routine", row[2]) for row in calls if row[13]]
        await conn.copy_records_to_table(
            "console_callbacks",
            records=callbacks,
            columns=["callback_id", "clinic_id", "reason", "urgency", "requested_at"],
        )
        for clinic in CLINICS:  # the rows went around the projector: its hour summaries are counted once
            await projection.count_again(conn, clinic)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return len(calls)


# --- the calls flowing ---------------------------------------------------------------------------


@dataclass
class Load:
    rate: float
    seconds: float
    warmup: float
    sent_probes: dict[str, float] = field(default_factory=dict)  # call id -> intended send (monotonic)
    calls: int = 0
    sending_seconds: float = 0.0
    sent_all: bool = False  # every call's first events are sent (no probe is added after)


def a_call(n: int, now: datetime) -> tuple[list[Event], list[tuple[float, Event]]]:
    """Call n's events: those sent at once, and (delay in seconds, event) for the later ones."""
    clinic, call = CLINICS[n % len(CLINICS)], f"live-{n}"
    ids = {"call_id": call, "clinic_id": clinic}
    offer = {**ids, "target_kind": "pool", "target_id": "desk"}
    at_once: list[Event] = [
        CallReceived(**ids, received_at=now, caller_token=f"tok-{n}"),
        CallRouted(**offer, reason="bench", answer_by=now + timedelta(seconds=30)),
        CallOffered(**offer, ring_timeout_seconds=20, offered_at=now, attempt=1),
    ]
    if n % 10 == 3:  # one call in ten hangs up before an answer
        return at_once, [(ABANDON_AFTER, CallAbandoned(**ids, abandoned_at=now + timedelta(seconds=ABANDON_AFTER)))]
    answered = CallAnswered(
        **ids,
        answered_at=now + timedelta(seconds=ANSWER_AFTER),
        answered_by_kind="receptionist",
        answered_by_id=f"rcp-{n % RECEPTIONISTS}",
    )
    return at_once, [
        (ANSWER_AFTER, answered),
        (END_AFTER, CallEnded(**ids, ended_at=now + timedelta(seconds=END_AFTER))),
    ]


async def send_calls(bootstrap: str, load: Load) -> None:
    """Calls at a constant offered rate; each call's later events when they fall due."""
    producer = make_producer(bootstrap, client_id="bench-console-load", linger_ms=5)
    await producer.start()
    later: dict[float, collections.deque[tuple[float, Event]]] = {
        delay: collections.deque() for delay in (ANSWER_AFTER, ABANDON_AFTER, END_AFTER)
    }  # one queue per delay, so each is in due order
    pending: list[asyncio.Future[Any]] = []

    def send(event: Event) -> None:
        record = encode(event, source=SOURCE)
        sent = producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        pending.append(asyncio.ensure_future(sent))

    started, total = time.monotonic(), int(load.rate * (load.warmup + load.seconds))
    try:
        while load.calls < total:
            now_mono, now = time.monotonic(), datetime.now(UTC)
            while load.calls < min(total, int((now_mono - started) * load.rate)):
                n, intended = load.calls, started + load.calls / load.rate
                if n >= load.warmup * load.rate and n % PROBE_EVERY == 0:
                    load.sent_probes[f"live-{n}"] = intended
                at_once, afterwards = a_call(n, now)
                for event in at_once:
                    send(event)
                for delay, event in afterwards:
                    later[delay].append((intended + delay, event))
                load.calls += 1
            for queue in later.values():
                while queue and queue[0][0] <= now_mono:
                    send(queue.popleft()[1])
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.005)
        load.sending_seconds = time.monotonic() - started
        await asyncio.gather(*pending)
    finally:
        load.sent_all = True
        await producer.stop()


async def watch_read_model(url: str, load: Load, until: float) -> list[float]:
    """Each probe's lag: from its intended send to its row in the read model."""
    conn = await asyncpg.connect(url)
    seen: dict[str, float] = {}
    try:
        # Until the sender is done too: a sender running late still adds probes after `until`.
        while not load.sent_all or time.monotonic() < until or len(seen) < len(load.sent_probes):
            waiting = [c for c in load.sent_probes if c not in seen]
            if waiting:
                rows = await conn.fetch("SELECT call_id FROM console_calls WHERE call_id = ANY($1)", waiting)
                at = time.monotonic()
                for r in rows:
                    seen[r["call_id"]] = at
            if time.monotonic() > until + 60:
                break  # a probe never applied: reported as missing
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return [seen[c] - load.sent_probes[c] for c in seen]


async def bare_consumer(bootstrap: str, load: Load, until: float) -> list[float]:
    """Baseline: the probes' call.received read by a bare consumer (no decoding, no database)."""
    consumer = AIOKafkaConsumer(
        "call.received",
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{time.time_ns()}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    lags: list[float] = []
    try:
        while time.monotonic() < until + 5:
            batches = await consumer.getmany(timeout_ms=100)
            at = time.monotonic()
            for records in batches.values():
                for record in records:
                    call = json.loads(record.value or b"{}").get("call_id")
                    if call in load.sent_probes:
                        lags.append(at - load.sent_probes[call])
    finally:
        await consumer.stop()
    return lags


def consumer_lag_records(service: ServiceProcess) -> float:
    """The console's consumer lag in records (all partitions), from its own metric."""
    try:
        with urllib.request.urlopen(service.ops_url + "/metrics", timeout=2) as response:  # noqa: S310 - loopback
            text = response.read().decode()
    except OSError:
        return float("nan")
    return sum(
        float(m) for m in re.findall(r'^frontdesk_consumer_lag\{[^}]*service="console"[^}]*\} (\S+)$', text, re.M)
    )


async def sample_group_lag(service: ServiceProcess, start: float, until: float) -> list[float]:
    samples: list[float] = []
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    while time.monotonic() < until:
        samples.append(await asyncio.to_thread(consumer_lag_records, service))
        await asyncio.sleep(1)
    return samples


async def render_pages(service: ServiceProcess, token: str, start: float, until: float) -> dict[str, list[float]]:
    """A signed-in client asking for Now, Network and the stylesheet in turn, one request at a time."""
    timings: dict[str, list[float]] = {"now": [], "network": [], "stylesheet (baseline)": []}
    rng = random.Random(5)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        await client.get("/sign-in")
        signed = await client.post("/sign-in", data={"token": token, "csrf": client.cookies["console_sign_in"]})
        assert signed.status_code in (200, 303), signed.text[:300]
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        while time.monotonic() < until:
            for name, path in (
                ("now", f"/clinics/{rng.choice(CLINICS)}/now"),
                ("network", "/network"),
                ("stylesheet (baseline)", "/static/console.css"),
            ):
                began = time.perf_counter()
                response = await client.get(path)
                elapsed = time.perf_counter() - began
                assert response.status_code == 200, (path, response.status_code)
                timings[name].append(elapsed)
            await asyncio.sleep(0.05)
    return timings


async def run(stack: LocalStack, args: argparse.Namespace) -> dict[str, Any]:
    console = stack.service("console")
    console.start()
    await publish(stack.bootstrap, bench_clinics())
    deadline = time.monotonic() + 120
    while not set(CLINICS) <= await asyncio.to_thread(console.known_clinics):
        if time.monotonic() > deadline:
            raise TimeoutError("the console never learned the bench clinics")
        await asyncio.sleep(0.5)
    began = time.monotonic()
    seeded = await seed_month(stack.admin_database_url("console"), args.calls_per_day)
    log(f"seeded {seeded} calls (50 clinics x 30 days) in {time.monotonic() - began:.1f} s")
    load = Load(args.rate, args.seconds, args.warmup)
    start = time.monotonic() + args.warmup
    until = start + args.seconds
    token = stack.api_token(None, scopes=("read",), subject="bench-console")
    log(f"{args.rate:g} calls/s for {args.warmup:g} s warm-up + {args.seconds:g} s measured")
    sender = asyncio.create_task(send_calls(stack.bootstrap, load))
    bare = asyncio.create_task(bare_consumer(stack.bootstrap, load, until))
    lag = asyncio.create_task(watch_read_model(stack.admin_database_url("console"), load, until))
    group = asyncio.create_task(sample_group_lag(console, start, until))
    pages = await render_pages(console, token, start, until)
    await sender
    lags, bare_lags, group_lags = await lag, await bare, await group
    sent_rate = load.calls / load.sending_seconds if load.sending_seconds else float("nan")
    result = {
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "rate": args.rate,
        "offered_calls": load.calls,
        "achieved_rate": round(sent_rate, 1),
        "seeded_calls": seeded,
        "probes": len(load.sent_probes),
        "lag_read_model": summary(lags),
        "lag_bare_consumer": summary(bare_lags),
        "group_lag_records_max": max(group_lags, default=float("nan")),
        "pages": {name: summary(values) for name, values in pages.items()},
    }
    base = result["lag_bare_consumer"]["p99_ms"] or float("nan")
    result["lag_p99_ratio"] = round(result["lag_read_model"]["p99_ms"] / base, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--calls-per-day", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-console-") as tmp:
        stack = LocalStack.ephemeral(Path(tmp))
        try:
            stack.start_infrastructure()
            result = asyncio.run(run(stack, args))
        finally:
            stack.stop()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"calls: {result['offered_calls']} at {result['achieved_rate']}/s offered")
    print(f"month seeded: {result['seeded_calls']} calls; load average at the end {result['load_average_1m_at_end']}")
    for name, key in (("lag to the read model", "lag_read_model"), ("bare consumer (baseline)", "lag_bare_consumer")):
        lag = result[key]
        print(f"{name:>26}: {lag['n']} probes, p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms")
    print(
        f"p99 ratio {result['lag_p99_ratio']}x; consumer group lag at most {result['group_lag_records_max']:g} records"
    )
    for name, page in result["pages"].items():
        print(
            f"{name:>26}: {page['n']} reqs, p50 {page['p50_ms']} ms, p99 {page['p99_ms']} ms, max {page['max_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
