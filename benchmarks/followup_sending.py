"""followup's durable send path: due time -> send timer -> contact policy -> SMS provider (HTTP) -> message.sent.

Each message is requested (message.requested, its `not_before` the due time) a few seconds before it
falls due, so followup has stored it and armed its timer; what is measured is the time from the due
time to the moment a reader of `message.sent` sees it: the timer firing, the contact policy's reads
and locks, the provider's answer, the outcome recorded with the event in one transaction, the relay.
The provider is benchmarks/sms_provider.py on loopback, answering after `--provider-delay-ms`; it
counts each idempotency key it delivers, so a text sent twice would show as a repeat. Two paths run
one after the other at the same paced rate and count, on the same broker, database and provider:

- bare:     a plain loop of `--bare-concurrency` workers (own process): claim the due row of a table
            (DELETE ... SKIP LOCKED, in a transaction), POST to the provider, produce a record, commit.
- followup: the followup service process, registered patients (contact details and treatment consent
            written to its tables as a registration would), a clinic where it is mid-day.

Each path reports p50/p99/max from due time to seen and the CPU it cost per message while measuring
(the process under test, PostgreSQL, the broker); the ratio is followup's p99 over bare's. Target
(issue 19): p99 <= 100 ms at 100 messages/s with a provider that answers at once.

Run: `.venv/bin/python benchmarks/followup_sending.py [--rate 100] [--count 3000] [--provider-delay-ms 0] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from followup_planning import (
    CpuMeter,
    Sink,
    create_topics,
    log,
    machine,
    percentile,
    print_paths,
    start_instances,
    until_known,
)

from frontdesk.common.cloudevents import decode, encode
from frontdesk.common.contracts import ClinicConfig, MessageRequested
from frontdesk.common.kafka import make_producer
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack

HERE = Path(__file__).resolve().parent
BARE_OUT = "bench.send.out"
LEAD = 3.0  # seconds between a message's request and its due time
TARGET_P99_MS = 100.0
ZONES = [
    "Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata", "Europe/Berlin", "Atlantic/Azores",
    "America/Sao_Paulo", "America/New_York", "America/Denver", "Pacific/Honolulu",
]  # fmt: skip


def midday_zone() -> str:
    """A zone where it is now between 10:00 and 18:00 (quiet hours must not defer the messages)."""
    now = datetime.now(UTC)
    return next(z for z in ZONES if 10 <= now.astimezone(ZoneInfo(z)).hour < 18)


def bench_clinics(run: str, zone: str, count: int = 10) -> list[ClinicConfig]:
    return [
        ClinicConfig.model_validate(
            {
                "clinic_id": f"bench-send-{run}-{n}",
                "name": f"Bench Send Clinic {n}",
                "timezone": zone,
                "phone": {"answering_service": "bench-vendor"},
                "providers": [{"provider_id": "dr-bench"}],
                "messaging": {"daily_message_limit": 1_000_000},
            }
        )
        for n in range(count)
    ]


# ---------------------------------------------------------------- the bare path (its own process)


async def bare_sender(bootstrap: str, dsn: str, provider_url: str, concurrency: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    producer = make_producer(bootstrap, client_id="bench-bare-sender", linger_ms=0)
    await producer.start()
    client = httpx.AsyncClient(timeout=10)

    async def worker() -> None:
        async with pool.acquire() as conn:
            while not stop.is_set():
                async with conn.transaction():
                    message_id = await conn.fetchval(
                        "DELETE FROM bench_send_timers WHERE id = (SELECT id FROM bench_send_timers"
                        " WHERE due_at <= now() ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING message_id"
                    )
                    if message_id is not None:
                        body = json.dumps({"channel": "sms", "to": "+15550100", "body": "bench"}).encode()
                        headers = {"Content-Type": "application/json", "Idempotency-Key": f"bare-{message_id}"}
                        answer = await client.post(provider_url, content=body, headers=headers)
                        record = json.dumps({"id": message_id, "status": answer.status_code}).encode()
                        await producer.send_and_wait(BARE_OUT, record, key=message_id.encode())
                if message_id is None:  # sleep until the next row falls due (2-50 ms)
                    next_in = await conn.fetchval(
                        "SELECT extract(epoch FROM min(due_at) - now()) FROM bench_send_timers"
                    )
                    await asyncio.sleep(min(max(float(next_in or 0.05), 0.002), 0.05))

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await stop.wait()
    await asyncio.gather(*workers, return_exceptions=True)
    await client.aclose()
    await producer.stop()
    await pool.close()


# ---------------------------------------------------------------- load and measurement


async def run_path(
    name: str,
    sink_topic: str,
    ident: Callable[[Any], str | None],
    ids: list[str],
    request: Callable[[str, datetime], Awaitable[None]],
    rate: float,
    bootstrap: str,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    """Request each message LEAD seconds before its due time (paced at `rate`); latency runs from the
    due time to the moment the sink sees the message's output."""
    wall_minus_perf = time.time_ns() - time.perf_counter_ns()
    due: dict[str, int] = {}
    cpu_before = cpu.read() if cpu else None
    async with Sink(bootstrap, sink_topic, ident) as sink:
        start = time.perf_counter_ns() + int((LEAD + 0.5) * 1e9)
        for n, message_id in enumerate(ids):
            due[message_id] = start + int(n * 1e9 / rate)
            delay = (due[message_id] - int(LEAD * 1e9) - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            await request(message_id, datetime.fromtimestamp((due[message_id] + wall_minus_perf) / 1e9, UTC))
        await sink.wait_for(ids, timeout=60 + len(ids) / rate)
        seen = dict(sink.seen)
    cpu_used = CpuMeter.per_record(cpu_before, cpu.read(), len(ids)) if cpu and cpu_before else {}
    latencies = sorted((seen[k] - due[k]) / 1e6 for k in ids if k in seen)
    first, last = min(due.values()), max(seen.values(), default=0)
    elapsed = (last - first) / 1e9 if latencies else float("nan")
    return {
        "path": name,
        "sent": len(ids),
        "received": len(latencies),
        "throughput_per_s": len(latencies) / elapsed if latencies else 0.0,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        **cpu_used,
    }


def sent_ident(record: Any) -> str | None:
    with contextlib.suppress(Exception):
        return str(decode(record.topic, record.value, record.headers).data.message_request_id)  # type: ignore[attr-defined]
    return None


def bare_ident(record: Any) -> str | None:
    with contextlib.suppress(Exception):
        return str(json.loads(record.value)["id"])
    return None


async def register_patients(dsn: str, patients: list[str], zone: str) -> None:
    """Contact details and treatment consent, as `PUT /v1/patients/{id}/contact` would write them (the
    API's rate limit per token would make seeding thousands of patients take minutes)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO contacts (patient_id, phone, timezone, preferred_channel) VALUES ($1, $2, $3, 'sms')",
            [(p, f"+1555{n:07d}", zone) for n, p in enumerate(patients, 1_000_001)],
        )
        await conn.executemany(
            "INSERT INTO consent_ledger (patient_id, purpose, opted_in, source, recorded_at)"
            " VALUES ($1, 'treatment', true, 'registration', now())",
            [(p,) for p in patients],
        )
    finally:
        await conn.close()


async def outcomes(dsn: str, prefix: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT status || coalesce(':' || reason, '') AS outcome, count(*) AS n FROM messages"
            " WHERE starts_with(message_request_id, $1) GROUP BY 1 ORDER BY 1",
            prefix,
        )
        return {r["outcome"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def committed(dsn: str, database: str) -> int:
    """Transactions the database has committed or rolled back (PostgreSQL's statistics, ~0.5 s behind)."""
    await asyncio.sleep(1)
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database
        )
        return count
    finally:
        await conn.close()


async def provider_stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        stats: dict[str, int] = (await client.get(url + "/stats")).json()
        return stats


class Followup:
    """The followup path's load: one message.requested per message, for a registered patient."""

    def __init__(self, bootstrap: str, clinic_ids: list[str]) -> None:
        self.bootstrap, self.clinic_ids = bootstrap, clinic_ids
        self.producer = make_producer(bootstrap, client_id="bench-load", linger_ms=0)

    async def request(self, message_id: str, due_at: datetime) -> None:
        n = int(message_id.rsplit("-", 1)[1])
        event = MessageRequested(
            message_request_id=message_id,
            requested_by="bench",
            patient_id=patient_of(message_id),
            clinic_id=self.clinic_ids[n % len(self.clinic_ids)],
            purpose="treatment",
            template="appointment-reminder",
            variables={"date": "Wed Dec 30", "time": "10:30 AM"},
            not_before=due_at,
            expires_at=due_at + timedelta(hours=1),
        )
        record = encode(event, source="frontdesk/bench")
        await self.producer.send(record.topic, record.value, key=record.key, headers=record.headers)


def patient_of(message_id: str) -> str:
    return "bp-" + message_id


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="fu-send-bench-"))
    stack = LocalStack.ephemeral(state)
    run = uuid.uuid4().hex[:6]
    provider = subprocess.Popen(  # noqa: ASYNC220 - our own stand-in, started once
        [sys.executable, str(HERE / "sms_provider.py"), "--delay-ms", str(args.provider_delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    bare: subprocess.Popen[bytes] | None = None
    try:
        assert provider.stdout is not None
        provider_url = f"http://127.0.0.1:{provider.stdout.readline().strip()}"
        stack.extra_env["FOLLOWUP_PROVIDER_URL"] = provider_url + "/messages"
        log("starting Kafka and PostgreSQL")
        await asyncio.to_thread(stack.start_infrastructure)
        await create_topics(stack.bootstrap, BARE_OUT)
        zone = midday_zone()
        clinics = bench_clinics(run, zone)
        log(f"starting followup ({args.replicas} instance(s)); provider answers after {args.provider_delay_ms:g} ms")
        instances = await start_instances(stack, "followup", args.replicas)
        await publish(stack.bootstrap, clinics)
        await until_known(instances[0], clinics)
        warm = max(100, args.count // 10)
        fu_ids = {
            kind: [f"bs-{run}-{kind}-{n}" for n in range(count)] for kind, count in (("w", warm), ("m", args.count))
        }
        await register_patients(
            stack.admin_database_url("followup"), [patient_of(m) for ids in fu_ids.values() for m in ids], zone
        )

        server = await asyncpg.connect(stack.server_database_url)
        await server.execute(
            "CREATE TABLE IF NOT EXISTS bench_send_timers (id bigserial PRIMARY KEY, message_id text NOT NULL,"
            " due_at timestamptz NOT NULL);"
            " CREATE INDEX IF NOT EXISTS bench_send_timers_due ON bench_send_timers (due_at)"
        )
        bare = subprocess.Popen(  # noqa: ASYNC220 - our own script, started once
            [sys.executable, __file__, "--bare", stack.bootstrap, stack.server_database_url, provider_url + "/bare",
             str(args.bare_concurrency)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

        async def insert_due(message_id: str, due_at: datetime) -> None:
            await server.execute(
                "INSERT INTO bench_send_timers (message_id, due_at) VALUES ($1, $2)", message_id, due_at
            )

        bare_cpu = CpuMeter(stack, [bare.pid])
        await asyncio.sleep(2)
        b = stack.bootstrap
        log(f"bare: warm-up {warm}, then {args.count} messages at {args.rate:g}/s")
        await run_path("warm", BARE_OUT, bare_ident, [f"bw-{run}-{n}" for n in range(warm)], insert_due, args.rate, b)
        bare_ids = [f"bm-{run}-{n}" for n in range(args.count)]
        bare_result = await run_path("bare", BARE_OUT, bare_ident, bare_ids, insert_due, args.rate, b, bare_cpu)
        bare.send_signal(signal.SIGTERM)
        bare.wait(timeout=30)
        await server.close()

        load = Followup(stack.bootstrap, [c.clinic_id for c in clinics])
        await load.producer.start()
        fu_cpu = CpuMeter(stack, [instance.process.pid() for instance in instances])
        log(f"followup: warm-up {warm}, then {args.count} messages at {args.rate:g}/s")
        await run_path("warm", "message.sent", sent_ident, fu_ids["w"], load.request, args.rate, b)
        transactions = await committed(stack.server_database_url, "frontdesk_followup")
        fu = await run_path("followup", "message.sent", sent_ident, fu_ids["m"], load.request, args.rate, b, fu_cpu)
        # Every transaction of followup's database while measuring: the sends', and the timer workers'
        # polls and claims that found nothing (a transaction each, as a round trip is).
        transactions = await committed(stack.server_database_url, "frontdesk_followup") - transactions
        fu["db_transactions_per_record"] = round(transactions / args.count, 2)
        await load.producer.stop()
        fu["outcomes"] = await outcomes(stack.admin_database_url("followup"), f"bs-{run}-m-")
        stats = await provider_stats(provider_url)
        return {
            "benchmark": "followup_sending",
            "rate_per_s": args.rate,
            "count": args.count,
            "replicas": args.replicas,
            "provider_delay_ms": args.provider_delay_ms,
            "machine": machine(),
            "paths": [bare_result, fu],
            "provider": stats,
            "ratio_p99_followup_vs_bare": fu["p99_ms"] / bare_result["p99_ms"] if bare_result["p99_ms"] else None,
            "ratio_p50_followup_vs_bare": fu["p50_ms"] / bare_result["p50_ms"] if bare_result["p50_ms"] else None,
        }
    finally:
        if bare is not None and bare.poll() is None:
            bare.kill()
        provider.send_signal(signal.SIGTERM)
        provider.wait(timeout=10)
        await asyncio.to_thread(stack.stop)


def target_met(args: argparse.Namespace, fu: dict[str, Any]) -> str:
    if args.provider_delay_ms:
        return "not measured (the provider's delay counts in the latency)"
    return "met" if fu["p99_ms"] <= TARGET_P99_MS and fu["received"] == fu["sent"] else "NOT met"


def report(args: argparse.Namespace, result: dict[str, Any], load_before: str) -> None:
    print(
        f"followup sending benchmark: {args.count} messages at {args.rate:g}/s, provider answering after"
        f" {args.provider_delay_ms:g} ms, {args.replicas} followup instance(s), bare with {args.bare_concurrency}"
        f" workers ({result['machine']}; /proc/loadavg before: {load_before})"
    )
    print_paths(result["paths"], "msgs/s", "message")
    fu = result["paths"][1]
    per_message = fu["db_transactions_per_record"]
    print(f"followup's database: {per_message} transactions per message (a statement alone counts as one)")
    print(f"followup outcomes: {fu['outcomes']}; provider: {result['provider']} (repeats: a key POSTed again)")
    print(
        f"followup / bare: p50 x{result['ratio_p50_followup_vs_bare']:.2f},"
        f" p99 x{result['ratio_p99_followup_vs_bare']:.2f}; target p99 <= {TARGET_P99_MS:g} ms"
        f" (a provider answering at once): {target_met(args, fu)}"
    )
    print(f"/proc/loadavg after: {Path('/proc/loadavg').read_text().strip()}")
    if args.json:
        print(json.dumps(result, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--provider-delay-ms", type=float, default=0.0)
    parser.add_argument("--replicas", type=int, default=1, help="followup instances in one consumer group")
    parser.add_argument("--bare-concurrency", type=int, default=8, help="the bare loop's workers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bare", nargs=4, metavar=("BOOTSTRAP", "DSN", "PROVIDER_URL", "CONCURRENCY"))
    args = parser.parse_args()
    if args.bare:
        bootstrap, dsn, url, concurrency = args.bare
        asyncio.run(bare_sender(bootstrap, dsn, url, int(concurrency)))
        return
    load_before = Path("/proc/loadavg").read_text().strip()
    report(args, asyncio.run(main_async(args)), load_before)


if __name__ == "__main__":
    main()
