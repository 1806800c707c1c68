"""Booking and slot search in the scheduler: throughput, and the highest rate whose p99 stays in budget.

The scheduler's booking command (`booking.book`) runs in-process on uvloop against a real PostgreSQL,
then through the service's HTTP API. Baseline, same run: a bare single-row INSERT transaction on the
same database through the same pool. Each row also gives the CPU per attempt of every process involved.

In-process:
- closed loop, N clients back-to-back: the bare insert (baseline), `spread` (N clients book N
  providers, every attempt books) and `contended` (all book one provider's day, most lose with 409).
  The throughput ratio spread / baseline is the headline (issue 19: >= 0.6x). Closed-loop latency is
  queueing (Little's law: clients / throughput), so its p99 says little about a rate.
  After spread, the booking's rows alone: the appointment row, outbox rows and timers that the last
  spread booking wrote, copied and inserted bare in one statement, with none of the booking's checks.
  That is the floor under a booking's cost that no change to its code can go below.
- open loop, a rate sweep: attempts are due at a fixed rate whatever the earlier ones did (each its
  own task; a late answer never delays the next send) and latency counts from the due time, so a
  stall counts against it instead of hiding it (no coordinated omission). The sweep stops at the
  first rate whose p99 exceeds the budget (--p99-budget, 50 ms) or that falls behind; reported: the
  highest rate within budget, for the bare insert and for spread booking.

Over HTTP (--http: starts Kafka, PostgreSQL and the scheduler process): the same open-loop sweep for
one provider (contended: one working day) and for 50 providers (spread). Each client is a front desk
with its own clinic-scoped token: every request pays for token checks, the audit row and the
rate-limit count (the limit itself is raised out of the way).

Slot search (--slots; over HTTP with --http too): a month of one provider's free slots (weekly
template, 15-minute grid, 30-minute visits, a third of the month booked), in-process (the use case)
and over HTTP (GET /v1/slots, paced); p50/p99 against the 20 ms budget.

Every booking scenario ends with an independent overlap query; a non-zero count fails the run.
Run: `.venv/bin/python benchmarks/scheduler_booking.py [--clients 50] [--attempts 2000] [--slots]
[--http] [--json]`. DATABASE_URL, when set, is used instead of an ephemeral PostgreSQL server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
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
import uvloop
from loadgen import Attempt, CpuMeter, Row, closed_loop, open_loop, sweep

from frontdesk.common import outbox
from frontdesk.common.cloudevents import TraceContext
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import create_pool, migrate
from frontdesk.common.uow import transaction
from frontdesk.scheduler import booking
from frontdesk.scheduler.entrypoints.main import DEFINITION
from frontdesk.tools.stack import LocalStack

DAY = datetime(2034, 5, 8, 13, tzinfo=UTC)  # a Monday, 09:00 in New York
MONTH = (datetime(2034, 6, 1, 4, tzinfo=UTC), datetime(2034, 7, 1, 4, tzinfo=UTC))  # June, New York
ZONE = ZoneInfo("America/New_York")
SOURCE = "frontdesk/scheduler"


def clinic_config(clinic_id: str, providers: list[str], hours: bool = False) -> ClinicConfig:
    week = {day: ["08:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Benchmark Clinic",
            "timezone": "America/New_York",
            "phone": {"answering_service": "bench-vendor"},
            "providers": [{"provider_id": p, **({"availability": week} if hours else {})} for p in providers],
            "scheduling": {"appointment_types": [{"type_id": "visit", "duration_minutes": 30}]},
        }
    )


def spread_jobs(providers: list[str], count: int, first: int = 0) -> list[tuple[str, datetime]]:
    """Back-to-back slots, provider after provider: every attempt books."""
    return [
        (providers[i % len(providers)], DAY + timedelta(minutes=30 * (i // len(providers))))
        for i in range(first, first + count)
    ]


def contended_jobs(provider: str, count: int, seed: int = 7) -> list[tuple[str, datetime]]:
    """One provider, starts on a 5-minute grid over a working day: heavy overlap, most lose."""
    rng = random.Random(seed)
    return [(provider, DAY + timedelta(minutes=5 * rng.randrange(120))) for _ in range(count)]


# --- in-process ------------------------------------------------------------------------------------


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


async def add_clinic(pool: asyncpg.Pool, name: str, count: int, hours: bool = False) -> tuple[str, list[str]]:
    clinic_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    providers = [f"{clinic_id}-p{n}" for n in range(count)]
    await pool.execute(
        "INSERT INTO clinics (clinic_id, config, event_id) VALUES ($1, $2, 'bench')",
        clinic_id,
        clinic_config(clinic_id, providers, hours).model_dump(mode="json"),
    )
    return clinic_id, providers


def booker(pool: asyncpg.Pool, clinic_id: str) -> Attempt:
    async def book(job: tuple[str, datetime]) -> int:
        provider, start = job
        async with pool.acquire() as conn, transaction(conn, SOURCE, TraceContext.new()) as uow:
            command = booking.BookCommand(
                request_id=uuid.uuid4().hex,
                patient_id="pat-bench",
                clinic_id=clinic_id,
                provider_id=provider,
                appointment_type="visit",
                starts_at=start,
            )
            result = await booking.book(uow, command, hold=False, source="bench")
        return result.status_code

    return book


def bare_insert(pool: asyncpg.Pool) -> Attempt:
    async def plain(job: Any) -> int:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO bench_plain VALUES ($1, $2, $3)", uuid.uuid4().hex, "p", DAY)
        return 201

    return plain


# What a booking writes, without any of its checks or planning: the appointment row (its indexes and
# the exclusion constraint), its outbox rows and its timers, in one statement of one transaction.
_BOOKING_ROWS = """
WITH a AS (
    INSERT INTO appointments (appointment_id, request_id, patient_id, clinic_id, provider_id, appointment_type,
                              starts_at, ends_at, blocked_from, blocked_until, status, source)
    VALUES ($1, $1, 'pat-bench', $2, $3, 'visit', $4, $5, $4, $5, 'booked', 'bench')
), o AS (
    INSERT INTO outbox (event_id, topic, record_key, headers, payload)
    SELECT $1 || ':' || n, t, $2, h::jsonb, p
    FROM unnest($6::text[], $7::text[], $8::bytea[]) WITH ORDINALITY AS r(t, h, p, n)
)
INSERT INTO timers (timer_key, kind, due_at, payload)
SELECT $1 || ':' || n, k, $4 - make_interval(hours => n::int), p::jsonb
FROM unnest($9::text[], $10::text[]) WITH ORDINALITY AS r(k, p, n)
"""


async def booking_rows(pool: asyncpg.Pool, clinic_id: str) -> Attempt:
    """The floor under a booking's cost: `_BOOKING_ROWS`, with the events and timers that the last
    booking of `clinic_id` wrote as they are (its outbox rows and timers are copied)."""
    last = await pool.fetchval(
        "SELECT appointment_id FROM appointments WHERE clinic_id = $1 ORDER BY created_at DESC LIMIT 1", clinic_id
    )
    events = await pool.fetch(
        "SELECT topic, headers::text, payload FROM outbox WHERE position(convert_to($1, 'UTF8') IN payload) > 0"
        " ORDER BY id",
        last,
    )
    timers = await pool.fetch("SELECT kind, payload::text FROM timers WHERE strpos(timer_key, $1) > 0", last)
    topics, headers, payloads = ([e[i] for e in events] for i in range(3))
    kinds, timer_payloads = [t[0] for t in timers], [t[1] for t in timers]
    shape = f"1 appointment, {len(events)} outbox rows ({', '.join(topics)}), {len(kinds)} timers"
    print(f"the booking's rows, bare: {shape}", file=sys.stderr)

    async def write(job: tuple[str, datetime]) -> int:
        provider, start = job
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _BOOKING_ROWS, uuid.uuid4().hex, clinic_id, provider, start, start + timedelta(minutes=30),
                topics, headers, payloads, kinds, timer_payloads,
            )  # fmt: skip
        return 201

    return write


async def check_no_overlap(pool: asyncpg.Pool, clinic_id: str, name: str) -> None:
    found = await overlaps(pool, clinic_id)
    if found:
        raise SystemExit(f"{found} overlapping appointments in {name}: the guarantee is broken")


class StandInRelay:
    """In the service the scheduler's own outbox relay leads (one replica) and each booking wakes it
    after its commit; here a stand-in takes its place and publishes nothing: the relay's work is not
    part of this measurement (nor was it when every commit sent a NOTIFY that nobody heard)."""

    def wake(self) -> None:
        pass


def relay_leads_here() -> contextlib.AbstractContextManager[None]:
    leading = getattr(outbox, "leading", None)  # code before it: every outbox insert NOTIFYs
    return leading(SOURCE, StandInRelay()) if leading else contextlib.nullcontext()


async def in_process(url: str, args: argparse.Namespace, postgres: int | None) -> tuple[list[Row], dict[str, float]]:
    # CPU per attempt: this process (the booking code, or the bare insert's client) and PostgreSQL.
    meter = CpuMeter({"python": (os.getpid(), False), "postgres": (postgres, True)})
    with relay_leads_here():
        return await measure_in_process(url, args, meter)


async def measure_in_process(url: str, args: argparse.Namespace, meter: CpuMeter) -> tuple[list[Row], dict[str, float]]:
    clients = args.clients
    pool = await create_pool(url, size=clients + 2)
    await migrate(pool, DEFINITION.migrations)
    rows: list[Row] = []
    best: dict[str, float] = {}
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_plain (id text PRIMARY KEY, provider_id text, s timestamptz)"
        )
        plain = bare_insert(pool)
        # Warm-up: every connection open and every statement prepared before anything is measured.
        warm_clinic, warm_providers = await add_clinic(pool, "warm", clients)
        await closed_loop(clients, list(range(clients * 4)), plain)
        await closed_loop(clients, spread_jobs(warm_providers, clients * 4), booker(pool, warm_clinic))
        # As the service does once started: what exists now stays out of the collector's full passes
        # (which would walk it and stall the event loop for tens of milliseconds each).
        gc.collect()
        gc.freeze()

        row = await closed_loop(clients, list(range(args.attempts)), plain, meter)
        row.name = "baseline: bare insert, closed loop"
        rows.append(row)
        for name, count in (("spread", clients), ("contended", 1)):
            clinic_id, providers = await add_clinic(pool, name, count)
            jobs = spread_jobs(providers, args.attempts) if count > 1 else contended_jobs(providers[0], args.attempts)
            row = await closed_loop(clients, jobs, booker(pool, clinic_id), meter)
            row.name = f"{name} ({count} provider{'s' if count > 1 else ''}), closed loop"
            rows.append(row)
            await check_no_overlap(pool, clinic_id, name)
            if count > 1:  # the same rows again, bare, on slots far from those just booked
                write = await booking_rows(pool, clinic_id)
                row = await closed_loop(clients, spread_jobs(providers, args.attempts, first=10**6), write, meter)
                row.name = f"{name}: the booking's rows alone, closed loop"
                rows.append(row)

        if args.rates:
            steps, best["bare insert"] = await sweep(
                "bare insert", args.rates, args.seconds, lambda n: list(range(n)), plain, args.p99_budget, meter
            )
            rows += steps
            clinic_id, providers = await add_clinic(pool, "sweep", clients)
            book = booker(pool, clinic_id)
            name = f"spread ({clients} providers)"
            steps, best["spread booking"] = await sweep(
                name, args.rates, args.seconds, fresh_jobs(providers), book, args.p99_budget, meter
            )
            rows += steps
            await check_no_overlap(pool, clinic_id, "the sweep")
        if args.slots:
            rows.append(await slot_search_in_process(pool, meter))
        await pool.execute("DROP TABLE bench_plain")
        await pool.execute("DELETE FROM outbox")  # nothing relays in this process
    finally:
        await pool.close()
    return rows, best


def month_of_bookings(provider: str) -> list[tuple[str, datetime]]:
    """A third of the provider's working June: a 30-minute visit every 90 minutes from 08:00 local."""
    jobs = []
    day = MONTH[0]
    while day < MONTH[1]:
        local = day.astimezone(ZONE)
        if local.weekday() < 5:
            opening = local.replace(hour=8, minute=0)
            jobs += [(provider, (opening + timedelta(minutes=90 * k)).astimezone(UTC)) for k in range(6)]
        day += timedelta(days=1)
    return jobs


async def slot_search_in_process(pool: asyncpg.Pool, meter: CpuMeter, count: int = 300) -> Row:
    """What GET /v1/slots does for one provider (configuration, busy time, slot generation), timed
    without HTTP."""
    from frontdesk.scheduler.adapters import repository
    from frontdesk.scheduler.adapters.clinics import clinic_of
    from frontdesk.scheduler.domain import booking as rules_of
    from frontdesk.scheduler.domain.slots import Interval, generate_slots

    clinic_id, providers = await add_clinic(pool, "slots", 1, hours=True)
    book = booker(pool, clinic_id)
    for job in month_of_bookings(providers[0]):
        await book(job)
    window = Interval(*MONTH)
    out: list[tuple[int, float]] = []
    before = meter.read()
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        async with pool.acquire() as conn:
            clinic = await clinic_of(conn, clinic_id)
            assert clinic is not None
            provider = rules_of.find_provider(clinic, providers[0])
            assert provider is not None
            rules = rules_of.rules_for(clinic, provider, rules_of.find_type(clinic, "visit"))
            margin = Interval(window.start - timedelta(hours=8), window.end + timedelta(hours=8))
            busy = await repository.busy(conn, provider.provider_id, margin) + rules_of.exception_intervals(provider)
            slots = generate_slots(rules, window, busy, booking.now_utc(), limit=1000)
        out.append((200 if slots else 500, (time.perf_counter() - t0) * 1000))
    name = f"slot search, a month ({len(slots)} slots), in-process"
    return Row(name, out, time.perf_counter() - started).measured(meter, before)


# --- over HTTP -------------------------------------------------------------------------------------


async def http_clinic(
    stack: LocalStack, scheduler: Any, name: str, count: int, hours: bool = False
) -> tuple[str, list[str]]:
    from frontdesk.tools.apply import publish

    clinic_id = f"bench-http-{name}-{uuid.uuid4().hex[:6]}"
    providers = [f"{clinic_id}-p{n}" for n in range(count)]
    await publish(stack.bootstrap, [clinic_config(clinic_id, providers, hours)])
    while clinic_id not in await asyncio.to_thread(scheduler.known_clinics):  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    return clinic_id, providers


async def retried(send: Callable[[], Awaitable[Any]]) -> int:
    """A request sent again once if its pooled connection was closed under it (the server closes
    idle keep-alive connections between steps), as a real client would: the same Idempotency-Key
    makes the repeat safe. Its time counts from the first send's due time all the same."""
    import httpx

    try:
        response = await send()
    except httpx.TransportError:
        response = await send()
    return int(response.status_code)


def http_booker(client: Any, tokens: list[dict[str, str]], clinic_id: str) -> Attempt:
    sent = iter(range(10**9))

    async def book(job: tuple[str, datetime]) -> int:
        provider, start = job
        body = {
            "patient_id": "pat-bench",
            "clinic_id": clinic_id,
            "provider_id": provider,
            "appointment_type": "visit",
            "starts_at": start.isoformat(),
        }
        headers = {**tokens[next(sent) % len(tokens)], "Idempotency-Key": uuid.uuid4().hex}
        return await retried(lambda: client.post("/v1/appointments", json=body, headers=headers))

    return book


def fresh_jobs(providers: list[str]) -> Callable[[int], list[Any]]:
    """Jobs for each step of a sweep: one provider's contended day (a new draw each step), or spread
    slots far from every earlier step's."""
    steps = iter(range(1, 10**9))

    def jobs(n: int) -> list[Any]:
        step = next(steps)
        if len(providers) == 1:
            return contended_jobs(providers[0], n, seed=step)
        return spread_jobs(providers, n, first=step * 10**5)

    return jobs


async def over_http(stack: LocalStack, args: argparse.Namespace) -> tuple[list[Row], dict[str, float]]:
    import httpx

    # Counted, never refused: the benchmark measures the booking path, not the limiter's verdicts.
    stack.extra_env["FRONTDESK_RATE_LIMITS"] = json.dumps({"bookings": 10**9, "slot_search": 10**9})
    scheduler = stack.service("scheduler")
    scheduler.start()
    meter = CpuMeter(
        {
            "scheduler": (scheduler.process.pid(), False),
            "postgres": (stack.postgres.process.pid(), True),
            "kafka": (stack.kafka.process.pid(), False),
            "load generator": (os.getpid(), False),
        }
    )
    rows: list[Row] = []
    best: dict[str, float] = {}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=60, limits=limits) as client:
        for name, count in (
            ("HTTP 1 provider (contended)", 1),
            (f"HTTP {args.clients} providers (spread)", args.clients),
        ):
            clinic_id, providers = await http_clinic(stack, scheduler, "book", count)
            tokens = [
                {"Authorization": "Bearer " + stack.api_token(clinics=[clinic_id], subject=f"desk-{n}")}
                for n in range(args.clients)
            ]
            book = http_booker(client, tokens, clinic_id)
            await closed_loop(args.clients, contended_jobs(providers[0], 200, seed=1), book)  # warm-up
            next_jobs = fresh_jobs(providers)
            steps, best[name] = await sweep(
                name, args.http_rates, args.seconds, next_jobs, book, args.p99_budget, meter
            )
            rows += steps
            pool = await create_pool(stack.database_url("scheduler"), 2)
            try:
                await check_no_overlap(pool, clinic_id, name)
            finally:
                await pool.close()
        if args.slots:
            rows.append(await slot_search_over_http(stack, scheduler, client, args, meter))
    scheduler.stop()
    return rows, best


async def slot_search_over_http(
    stack: LocalStack, scheduler: Any, client: Any, args: argparse.Namespace, meter: CpuMeter
) -> Row:
    clinic_id, providers = await http_clinic(stack, scheduler, "slots", 1, hours=True)
    headers = {"Authorization": "Bearer " + stack.api_token(clinics=[clinic_id], subject="desk-slots")}
    await closed_loop(4, month_of_bookings(providers[0]), http_booker(client, [headers], clinic_id))
    params = {
        "clinic_id": clinic_id,
        "appointment_type": "visit",
        "provider_id": providers[0],
        "start": MONTH[0].isoformat(),
        "end": MONTH[1].isoformat(),
        "limit": "1000",
    }

    async def search(_: Any) -> int:
        import httpx

        try:
            response = await client.get("/v1/slots", params=params, headers=headers)
        except httpx.TransportError:
            response = await client.get("/v1/slots", params=params, headers=headers)
        return 200 if response.status_code == 200 and response.json()["slots"] else 500

    await closed_loop(1, list(range(20)), search)  # warm-up
    row = await open_loop(args.slot_rate, list(range(round(args.slot_rate * args.seconds * 3))), search, meter)
    row.name = f"slot search, a month, HTTP @ {args.slot_rate:g}/s"
    return row


# --- report ------------------------------------------------------------------------------------------


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--attempts", type=int, default=2000, help="attempts per closed-loop scenario")
    parser.add_argument("--rates", type=rates, default=rates("250,500,750,1000,1250,1500,2000,2500,3000"))
    parser.add_argument("--http", action="store_true", help="also the HTTP sweeps (starts Kafka and the scheduler)")
    parser.add_argument("--http-rates", type=rates, default=rates("25,50,100,150,200,250,300,400,500"))
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each open-loop step")
    parser.add_argument("--p99-budget", type=float, default=50.0, help="ms; a sweep stops above it")
    parser.add_argument("--slots", action="store_true", help="also slot search for a provider's month")
    parser.add_argument("--slot-rate", type=float, default=20.0, help="slot searches/s over HTTP")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    uvloop.install()  # the service's event loop (uvicorn picks uvloop)
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
            postgres = None if external else stack.postgres.process.pid()
            rows, best = asyncio.run(in_process(stack.database_url("scheduler"), args, postgres))
            if args.http:
                http_rows, http_best = asyncio.run(over_http(stack, args))
                rows += http_rows
                best.update(http_best)
        finally:
            stack.stop() if args.http else stack.postgres.stop()
    report(rows, best, args)


def report(rows: list[Row], best: dict[str, float], args: argparse.Namespace) -> None:
    table = [r.as_dict() for r in rows]
    baseline = table[0]
    for row in table:
        row["throughput_vs_baseline"] = round(row["attempts_per_s"] / baseline["attempts_per_s"], 2)
    if args.json:
        out = {"clients": args.clients, "cpus": os.cpu_count(), "python": platform.python_version(), "rows": table}
        print(json.dumps({**out, "highest_rate_within_p99_budget": best, "p99_budget_ms": args.p99_budget}, indent=2))
    else:
        print(
            f"scheduler booking: {args.clients} clients/connections, {os.cpu_count()} CPUs,"
            f" load {os.getloadavg()[0]:.1f}"
        )
        columns = [
            ("scenario", "scenario", 48),
            ("attempts/s", "attempts_per_s", 10),
            ("x base", "throughput_vs_baseline", 6),
            ("201", "booked", 6),
            ("409", "conflicts", 6),
            ("err", "errors", 4),
            ("p50 ms", "p50_ms", 8),
            ("p99 ms", "p99_ms", 8),
            ("max ms", "max_ms", 8),
        ]
        print(" ".join(f"{t:<{w}}" if k == "scenario" else f"{t:>{w}}" for t, k, w in columns), "CPU ms/attempt")
        for row in table:
            cells = " ".join(f"{row[k]!s:<{w}}" if k == "scenario" else f"{row[k]!s:>{w}}" for _, k, w in columns)
            cpu = row["cpu_ms_per_attempt"] or {}
            print(cells, " ".join(f"{name} {ms:.2f}" for name, ms in cpu.items()))
        print(f"highest open-loop rate with p99 <= {args.p99_budget:g} ms:")
        for name, rate in best.items():
            print(f"  {name}: {rate:g}/s")
        if best.get("bare insert"):
            print(f"  spread booking / bare insert: {best['spread booking'] / best['bare insert']:.2f}x")
        print("overlapping active appointments after every booking scenario: 0")
    sys.exit(0 if all(r["errors"] == 0 for r in table) else 1)


if __name__ == "__main__":
    main()
