"""Booking throughput and latency of the scheduler's booking path, with and without contention.

The scheduler's own booking command (`booking.book`: idempotency check, configuration checks, a plain
read that turns away clear losers, the per-provider advisory lock, the insert under the exclusion
constraint, the outbox row for appointment.booked and the reminder timers, all in one transaction)
runs in-process against a real PostgreSQL server, from N concurrent clients with their own pooled
connections. Four scenarios in the same run:

- baseline:   a bare INSERT into a table with no constraint, no lock, no outbox: what one round of
              writes costs on this machine; the other rows are compared with it.
- spread:     N clients book N different providers (no contention).
- contended:  N clients all book one provider, overlapping windows (most attempts lose with 409).
- http:       the contended scenario again through the running service's HTTP API (--http, which
              starts Kafka, PostgreSQL and the scheduler process), closed loop and then paced at
              --rate attempts/s (open loop, latency from each attempt's due time). Each client is a
              front desk with its own clinic-scoped token: every request pays for token checks, the
              audit row and the rate-limit count (the limit itself is raised out of the way).

Latency is per attempt (transaction begin to commit, or request to response), winners and losers
together, plus the winners (201) alone. The clients run closed-loop, so once a path is CPU-bound the
latency is queueing (Little's law: clients / throughput), not lock waiting. Every scenario ends with
an independent overlap query; a non-zero count fails the run.

Run: `.venv/bin/python benchmarks/scheduler_booking.py [--clients 50] [--attempts 2000] [--http] [--json]`.
DATABASE_URL, when set, is used instead of an ephemeral PostgreSQL server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from frontdesk.common.cloudevents import TraceContext
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import create_pool, migrate
from frontdesk.common.uow import transaction
from frontdesk.scheduler import booking
from frontdesk.scheduler.entrypoints.main import DEFINITION
from frontdesk.tools.stack import LocalStack

DAY = datetime(2034, 5, 8, 13, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Row:
    name: str
    attempts: int
    booked: int
    conflicts: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    booked_ms: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "attempts": self.attempts,
            "booked": self.booked,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "attempts_per_s": round(self.attempts / self.seconds, 1),
            "bookings_per_s": round(self.booked / self.seconds, 1),
            "p50_ms": round(percentile(self.latencies_ms, 0.5), 2),
            "p99_ms": round(percentile(self.latencies_ms, 0.99), 2),
            "max_ms": round(max(self.latencies_ms), 2),
            "booked_p50_ms": round(percentile(self.booked_ms, 0.5), 2),
            "booked_p99_ms": round(percentile(self.booked_ms, 0.99), 2),
        }


def clinic_config(clinic_id: str, providers: list[str]) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Benchmark Clinic",
            "timezone": "America/New_York",
            "phone": {"answering_service": "bench-vendor"},
            "providers": [{"provider_id": p} for p in providers],
            "scheduling": {"appointment_types": [{"type_id": "visit", "duration_minutes": 30}]},
        }
    )


async def run_clients(clients: int, jobs: list[Any], one: Any) -> tuple[list[tuple[int, float]], float]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    out: list[tuple[int, float]] = []

    async def client() -> None:
        while not queue.empty():
            job = queue.get_nowait()
            t0 = time.perf_counter()
            code = await one(job)
            out.append((code, (time.perf_counter() - t0) * 1000))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return out, time.perf_counter() - started


def summarise(name: str, results: list[tuple[int, float]], seconds: float) -> Row:
    return Row(
        name,
        len(results),
        sum(1 for c, _ in results if c == 201),
        sum(1 for c, _ in results if c == 409),
        sum(1 for c, _ in results if c not in (201, 409)),
        seconds,
        [ms for _, ms in results],
        [ms for c, ms in results if c == 201],
    )


async def overlaps(pool: asyncpg.Pool, clinic_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM appointments a JOIN appointments b ON a.provider_id = b.provider_id"
            " AND a.appointment_id < b.appointment_id AND tstzrange(a.blocked_from, a.blocked_until, '[)')"
            " && tstzrange(b.blocked_from, b.blocked_until, '[)') WHERE a.clinic_id = $1 AND b.clinic_id = $1"
            " AND a.status <> 'cancelled' AND b.status <> 'cancelled'",
            clinic_id,
        )
    )


async def in_process(url: str, clients: int, attempts: int) -> list[Row]:
    pool = await create_pool(url, size=clients + 2)
    await migrate(pool, DEFINITION.migrations)
    rows: list[Row] = []
    try:
        # Baseline: the same number of single-row insert transactions, nothing else.
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_plain (id text PRIMARY KEY, provider_id text, s timestamptz)"
        )

        async def plain(job: int) -> int:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO bench_plain VALUES ($1, $2, $3)", uuid.uuid4().hex, "p", DAY)
            return 201

        results, seconds = await run_clients(clients, list(range(attempts)), plain)
        rows.append(summarise("baseline (bare insert)", results, seconds))

        for name, providers in (("spread", [f"p{n}" for n in range(clients)]), ("contended", ["p0"])):
            clinic_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
            providers = [f"{clinic_id}-{p}" for p in providers]
            config = clinic_config(clinic_id, providers)
            await pool.execute(
                "INSERT INTO clinics (clinic_id, config, event_id) VALUES ($1, $2, 'bench')",
                clinic_id,
                config.model_dump(mode="json"),
            )
            rng = random.Random(7)
            if name == "spread":  # back-to-back slots per provider: every attempt books
                jobs = [
                    (providers[i % len(providers)], DAY + timedelta(minutes=30 * (i // len(providers))))
                    for i in range(attempts)
                ]
            else:  # one provider, starts on a 5-minute grid over a working day: heavy overlap
                jobs = [(providers[0], DAY + timedelta(minutes=5 * rng.randrange(120))) for _ in range(attempts)]

            async def book(job: tuple[str, datetime], clinic_id: str = clinic_id) -> int:
                provider, start = job
                async with pool.acquire() as conn, transaction(conn, "frontdesk/scheduler", TraceContext.new()) as uow:
                    result = await booking.book(
                        uow,
                        booking.BookCommand(
                            request_id=uuid.uuid4().hex,
                            patient_id="pat-bench",
                            clinic_id=clinic_id,
                            provider_id=provider,
                            appointment_type="visit",
                            starts_at=start,
                        ),
                        hold=False,
                        source="bench",
                    )
                return result.status_code

            results, seconds = await run_clients(clients, jobs, book)
            rows.append(
                summarise(f"{name} ({len(providers)} provider{'s' if len(providers) > 1 else ''})", results, seconds)
            )
            found = await overlaps(pool, clinic_id)
            if found:
                raise SystemExit(f"{found} overlapping appointments in {name}: the guarantee is broken")
        await pool.execute("DROP TABLE bench_plain")
        await pool.execute("DELETE FROM outbox")  # nothing relays in this process
    finally:
        await pool.close()
    return rows


async def run_paced(clients: int, jobs: list[Any], one: Any, rate: float) -> tuple[list[tuple[int, float]], float]:
    """Open loop: attempt i is due at start + i / rate (handed to the clients round-robin); latency is
    counted from the due time, so a stall counts against it instead of hiding it."""
    out: list[tuple[int, float]] = []
    started = time.perf_counter()

    async def client(n: int) -> None:
        for i in range(n, len(jobs), clients):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            code = await one(jobs[i])
            out.append((code, (time.perf_counter() - due) * 1000))

    await asyncio.gather(*(client(n) for n in range(clients)))
    return out, time.perf_counter() - started


async def over_http(stack: LocalStack, clients: int, attempts: int, rate: float) -> list[Row]:
    import httpx

    from frontdesk.tools.apply import publish

    # Counted, never refused: the benchmark measures the booking path, not the limiter's verdicts.
    stack.extra_env["FRONTDESK_RATE_LIMITS"] = json.dumps({"bookings": 10**9})
    scheduler = stack.service("scheduler")
    scheduler.start()
    rows: list[Row] = []
    async with httpx.AsyncClient(
        base_url=scheduler.url, timeout=60, limits=httpx.Limits(max_connections=clients)
    ) as client:
        for mode in ("closed loop", f"paced {rate:.0f}/s"):
            clinic_id = f"bench-http-{uuid.uuid4().hex[:6]}"
            provider = f"{clinic_id}-p0"
            await publish(stack.bootstrap, [clinic_config(clinic_id, [provider])])
            while clinic_id not in await asyncio.to_thread(scheduler.known_clinics):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            tokens = [
                {"Authorization": "Bearer " + stack.api_token(clinics=[clinic_id], subject=f"desk-{n}")}
                for n in range(clients)
            ]
            rng = random.Random(7)
            jobs = [(n, DAY + timedelta(minutes=5 * rng.randrange(120))) for n in range(attempts)]

            async def book(
                job: tuple[int, datetime],
                clinic_id: str = clinic_id,
                provider: str = provider,
                tokens: list[dict[str, str]] = tokens,
            ) -> int:
                n, start = job
                response = await client.post(
                    "/v1/appointments",
                    json={
                        "patient_id": "pat-bench",
                        "clinic_id": clinic_id,
                        "provider_id": provider,
                        "appointment_type": "visit",
                        "starts_at": start.isoformat(),
                    },
                    headers={**tokens[n % len(tokens)], "Idempotency-Key": uuid.uuid4().hex},
                )
                return response.status_code

            if mode == "closed loop":
                results, seconds = await run_clients(clients, jobs, book)
            else:
                results, seconds = await run_paced(clients, jobs, book, rate)
            rows.append(summarise(f"HTTP contended, {mode}", results, seconds))
            pool = await create_pool(stack.database_url("scheduler"), 2)
            try:
                if await overlaps(pool, clinic_id):
                    raise SystemExit("overlapping appointments over HTTP: the guarantee is broken")
            finally:
                await pool.close()
    scheduler.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--http", action="store_true", help="also run the contended scenario over HTTP")
    parser.add_argument("--rate", type=float, default=100.0, help="offered attempts/s of the paced HTTP run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sched-bench-") as tmp:
        stack = LocalStack.ephemeral(Path(tmp))
        external = os.environ.get("DATABASE_URL")
        try:
            if args.http:
                stack.start_infrastructure()
            else:
                from frontdesk.common.provision import provision
                from frontdesk.tools.stack import run_sync

                if not external:
                    stack.postgres.start()
                run_sync(provision(stack.server_database_url, stack.database_url("scheduler")))
            url = stack.database_url("scheduler")
            rows = asyncio.run(in_process(url, args.clients, args.attempts))
            if args.http:
                rows += asyncio.run(over_http(stack, args.clients, args.attempts, args.rate))
        finally:
            stack.stop() if args.http else stack.postgres.stop()

    baseline = rows[0].as_dict()
    table = [r.as_dict() for r in rows]
    for row in table:
        row["p50_vs_baseline"] = round(row["p50_ms"] / baseline["p50_ms"], 1) if baseline["p50_ms"] else None
        row["p99_vs_baseline"] = round(row["p99_ms"] / baseline["p99_ms"], 1) if baseline["p99_ms"] else None
    if args.json:
        print(
            json.dumps(
                {"clients": args.clients, "cpus": os.cpu_count(), "python": platform.python_version(), "rows": table},
                indent=2,
            )
        )
        return
    print(f"scheduler booking: {args.clients} concurrent clients, {args.attempts} attempts per scenario,", end=" ")
    print(f"{os.cpu_count()} CPUs")
    columns = [
        ("scenario", "scenario", 36),
        ("attempts/s", "attempts_per_s", 10),
        ("bookings/s", "bookings_per_s", 10),
        ("booked", "booked", 7),
        ("409", "conflicts", 6),
        ("err", "errors", 4),
        ("p50 ms", "p50_ms", 8),
        ("p99 ms", "p99_ms", 8),
        ("201 p50", "booked_p50_ms", 8),
        ("201 p99", "booked_p99_ms", 8),
        ("p99 x base", "p99_vs_baseline", 10),
    ]
    print(" ".join(f"{title:<{w}}" if title == "scenario" else f"{title:>{w}}" for title, _, w in columns))
    for row in table:
        cells = [f"{row[k]!s:<{w}}" if k == "scenario" else f"{row[k]!s:>{w}}" for _, k, w in columns]
        print(" ".join(cells))
    print("overlapping active appointments after every scenario: 0")
    sys.exit(0 if all(r["errors"] == 0 for r in table) else 1)


if __name__ == "__main__":
    main()
