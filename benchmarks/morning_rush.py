"""The morning rush: a clinic network's 08:00 replayed against the whole stack, and how it recovers.

Every service runs (call-router, scheduler, followup, reviews, console, phone-bridge: what `make run`
starts) on one broker and one PostgreSQL. Before T0 the network is set up as it stands at 07:59:
--clinics clinics configured, receptionists on shift, patients' contact details registered,
yesterday's visits completed, the morning's appointments booked (benchmarks/rush_plan.py says what
and how much, from the simulator's profile). At T0 every clinic's clock reads 08:MM and its 08:00
arrives at once: yesterday's check-ins and review requests fall due, the 10:00 reminders fire during
the peak, the 08:00 hour's calls ring (played --speed times faster: 60 s by default) and its visits
are completed. After the peak nothing new comes in, and the stack catches up.

Reported, sampled every second from outside the services (benchmarks/rush_watch.py):
- each service's consumer lag over time, and its drain time: from the end of the peak to the last
  moment anything was waiting (target: within 60 s); also with its outbox and overdue timers;
- each service's resident memory, at rest before T0 and at most (target: 300 MB or less);
- PostgreSQL's client connections (at most 200 are allowed locally);
- CPU of every process in the peak and in the drain, in % of one core, next to the whole machine's:
  a single-threaded service near 100% is the limit, a machine near 100% of its cores is.
Baselines in the same run: the state at rest before T0 (memory, connections, CPU) and the length of
the peak (a drain time is read against it).

Run: `.venv/bin/python benchmarks/morning_rush.py [--clinics 500] [--speed 60] [--calls-per-day 40]
[--visits-per-day 8] [--replicas followup=2] [--json]`; `--clinics 50` is a quick run. Always its own
ephemeral stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rush_plan import RushConfig, RushPlan, make_plan
from rush_watch import Sample, Watcher
from rush_world import World

from frontdesk.common.logging import configure_logging
from frontdesk.tools.stack import SERVICES, LocalStack

QUIET_FOR = 10.0  # seconds without any backlog anywhere that end the observation
PHONE_TOPICS = ("call.", "agent.", "vendor.")  # the topics a call's events travel on
REST = 10.0  # seconds before T0 at rest: the baseline of memory, connections and CPU
MB = 1024 * 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_of_rush(lead: float) -> datetime:
    """The first whole UTC minute at least `lead` seconds from now."""
    at = datetime.now(UTC) + timedelta(seconds=lead)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def prepare(world: World, plan: RushPlan) -> None:
    """Everything before T0, in the order the network's morning had it."""
    log(f"configuring {len(plan.clinics)} clinics and their receptionists")
    await world.configure()
    log(f"registering {len(plan.patients)} patients' contact details with followup")
    await world.register(plan.patients)
    log(f"yesterday: {len(plan.yesterday)} completed visits")
    await world.yesterday()
    log(f"booking the morning: {plan.reminders} 10:00 appointments, {plan.visits_in_peak} 08:00-hour visits")
    await world.book(plan.bookings)


async def observe_drain(watcher: Watcher, world: World, peak_end: float, max_drain: float) -> None:
    """Wait until nothing has been waiting anywhere for QUIET_FOR seconds, or `max_drain` has passed."""
    quiet_since = None
    while (now := time.monotonic() - watcher.t0) < peak_end + max_drain:
        await asyncio.sleep(1.0)
        last = watcher.samples[-1] if watcher.samples else None
        idle = last is not None and last.at >= peak_end and world.busy() == 0
        if idle and last is not None and not any(last.backlog(name) for name in last.lag):
            quiet_since = quiet_since if quiet_since is not None else now
            if now - quiet_since >= QUIET_FOR:
                return
        else:
            quiet_since = None


async def run_rush(stack: LocalStack, config: RushConfig, lead: float, max_drain: float) -> dict[str, Any]:
    services = {name: stack.service(name) for name in SERVICES}
    processes = {p.instance or p.name: p for name in SERVICES for p in stack.replicas(name)}
    t0 = start_of_rush(lead)
    plan = make_plan(config, t0, uuid.uuid4().hex[:6])
    zones = sorted({c.timezone for c in plan.clinics})
    log(f"T0 = {t0:%H:%M} UTC, 08:{t0.astimezone(plan.clinics[0].zone):%M} in {', '.join(zones)}")
    token = stack.api_token(subject="bench-rush")
    t0_monotonic = time.monotonic() + (t0 - datetime.now(UTC)).total_seconds()
    async with (
        World(stack.bootstrap, services, token, plan) as world,
        Watcher(stack, services, processes, t0_monotonic) as watcher,
    ):
        sampling = asyncio.create_task(watcher.run())
        await prepare(world, plan)
        await settled(watcher, t0_monotonic)
        ready_before = t0_monotonic - time.monotonic()
        if ready_before < REST:
            raise RuntimeError(f"setting up took {lead - ready_before:.0f} s, too close to T0: raise --lead")
        log(f"everything set up and consumed {ready_before:.0f} s before T0")
        await asyncio.sleep(max(0.0, t0_monotonic - time.monotonic()))
        log(f"T0: {len(plan.calls)} calls over the next {config.peak_seconds:.0f} s, and everything due at 08:00")
        await world.play(t0_monotonic)
        log("the peak is over; watching the drain")
        await observe_drain(watcher, world, config.peak_seconds, max_drain)
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        waiting = await watcher.waiting()
        result = summarize(plan, watcher.samples, world, t0_monotonic)
        held = await watcher.held()
        return result | {"ready_before_t0_s": round(ready_before), "timers_waiting": waiting, "held": held}


async def settled(watcher: Watcher, t0_monotonic: float) -> None:
    """Wait until three samples in a row show nothing waiting anywhere (or T0 comes)."""
    while time.monotonic() < t0_monotonic:
        last = watcher.samples[-3:]
        if len(last) == 3 and not any(s.backlog(name) for s in last for name in s.lag):
            return
        await asyncio.sleep(1.0)


# --- what the samples say ------------------------------------------------------------------------


def drain_seconds(samples: list[Sample], peak_end: float, waiting: Any) -> float | None:
    """Seconds from the peak's end to the first sample after the last one at which `waiting(sample)`
    was true; 0 if it never was after the peak; None if it still was at the last sample (not drained)."""
    after = [s for s in samples if s.at >= peak_end]
    if not after or waiting(after[-1]):
        return None
    last_busy = max((i for i, s in enumerate(after) if waiting(s)), default=None)
    return 0.0 if last_busy is None else round(after[last_busy + 1].at - peak_end, 1)


def cpu_percent(samples: list[Sample], start: float, end: float) -> dict[str, float]:
    """% of one core each process used between two moments (the samples nearest to them)."""
    first = min(samples, key=lambda s: abs(s.at - start))
    last = min(samples, key=lambda s: abs(s.at - end))
    wall = last.at - first.at
    if wall <= 0:
        return {}
    return {name: round(100 * (last.cpu[name] - first.cpu[name]) / wall, 1) for name in first.cpu}


def records_between(first: Sample, last: Sample, service: str) -> dict[str, int]:
    """Records the service's group consumed between two samples, per topic (those with any)."""
    before, after = first.consumed.get(service, {}), last.consumed.get(service, {})
    return {topic: n - before.get(topic, 0) for topic, n in sorted(after.items()) if n > before.get(topic, 0)}


def instances_cpu(first: Sample, last: Sample, service: str) -> float:
    """CPU seconds every instance of the service used between two samples (replicas are service-N)."""
    instances = [p for p in last.cpu if p == service or p.removeprefix(service + "-").isdigit()]
    return sum(last.cpu[p] - first.cpu[p] for p in instances)


def at_rest(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if -REST <= s.at < 0] or samples[:1]


def memory_and_connections(samples: list[Sample]) -> dict[str, Any]:
    rest = at_rest(samples)
    databases = sorted({d for s in samples for d in s.connections})
    return {
        "rss_mb": {
            name: {
                "rest": round(max(s.rss[name] for s in rest) / MB),
                "max": round(max(s.rss[name] for s in samples) / MB),
            }
            for name in samples[0].rss
        },
        "connections": {
            "rest": max(sum(s.connections.values()) for s in rest),
            "max": max(sum(s.connections.values()) for s in samples),
            "max_per_database": {db: max(s.connections.get(db, 0) for s in samples) for db in databases},
        },
    }


def cpu_by_phase(samples: list[Sample], peak_end: float, observed_until: float) -> dict[str, Any]:
    rest = at_rest(samples)
    phases = {
        "rest": cpu_percent(samples, rest[0].at, rest[-1].at),
        "peak": cpu_percent(samples, 0.0, peak_end),
        "drain": cpu_percent(samples, peak_end, observed_until),
    }
    cores = os.cpu_count() or 1
    return {
        "cpu_percent_of_one_core": phases,
        "machine_busy_percent": {
            phase: round(cpu.get("machine", math.nan) / cores, 1) for phase, cpu in phases.items()
        },
    }


def summarize(plan: RushPlan, samples: list[Sample], world: World, t0_monotonic: float) -> dict[str, Any]:
    peak_end = plan.config.peak_seconds
    names = list(samples[0].lag)
    observed_until = samples[-1].at
    rush = [s for s in samples if s.at >= 0]
    consumed = {name: records_between(rush[0], rush[-1], name) for name in names}
    return {
        "clinics": plan.config.clinics,
        "speed": plan.config.speed,
        "peak_seconds": peak_end,
        "offered": {
            "calls": len(plan.calls),
            "calls_per_s": round(len(plan.calls) / peak_end, 1),
            "booking_calls": sum(c.books for c in plan.calls),
            "yesterdays_visits": len(plan.yesterday),
            "reminders": plan.reminders,
            "visits_in_peak": plan.visits_in_peak,
            "events_sent_by_the_world": world.sent,
            "http_failures": world.http_failures,
        },
        "outcomes": {
            kind: {"count": n, "last_s": round(world.outcomes.last_at[kind] - t0_monotonic, 1)}
            for kind, n in sorted(world.outcomes.counts.items())
        },
        "drain_s": {
            name: {
                "lag": drain_seconds(samples, peak_end, lambda s, n=name: s.lag.get(n, 0) > 0),
                "all": drain_seconds(samples, peak_end, lambda s, n=name: s.backlog(n) > 0),
            }
            for name in names
        },
        "lag_max": {name: max(s.lag.get(name, 0) for s in rush) for name in names},
        "overdue_timers_max": {name: max(s.overdue.get(name, 0) for s in rush) for name in names},
        "consumed": {name: sum(by_topic.values()) for name, by_topic in consumed.items()},
        "consumed_by_topic": consumed,
        "phone_records_per_call": {
            name: round(sum(n for t, n in by_topic.items() if t.startswith(PHONE_TOPICS)) / len(plan.calls), 2)
            for name, by_topic in consumed.items()
        },
        "cpu_ms_per_record": {
            name: round(1000 * instances_cpu(rush[0], rush[-1], name) / sum(by_topic.values()), 2)
            for name, by_topic in consumed.items()
            if sum(by_topic.values()) > 0
        },
        **memory_and_connections(samples),
        **cpu_by_phase(samples, peak_end, observed_until),
        "timeline": [
            {"t": round(s.at), "lag": s.lag, "outbox": s.outbox, "overdue": s.overdue} for s in samples if s.at >= -REST
        ],
        "observed_until_s": round(observed_until),
    }


# --- the report ----------------------------------------------------------------------------------


def timeline_rows(result: dict[str, Any], names: list[str], every: int) -> list[str]:
    """Per window of `every` seconds, each service's highest consumer lag (and, after a +, its highest
    count of overdue timers and unpublished outbox rows)."""
    windows: dict[int, list[dict[str, Any]]] = {}
    for point in result["timeline"]:
        windows.setdefault(point["t"] // every * every, []).append(point)
    rows = [f"{'t s':>5}" + "".join(f"{name:>16}" for name in names)]
    for start, points in sorted(windows.items()):
        cells = []
        for name in names:
            lag = max(p["lag"][name] for p in points)
            extra = max(p["overdue"][name] + p["outbox"][name] for p in points)
            cells.append(f"{lag}{f'+{extra}' if extra else ''}")
        rows.append(f"{start:>5}" + "".join(f"{c:>16}" for c in cells))
    return rows


COLUMNS = (
    ("lag drained", 13),
    ("all drained", 13),
    ("lag max", 9),
    ("RSS rest", 10),
    ("RSS max", 9),
    ("CPU peak", 10),
    ("CPU drain", 11),
    ("records", 9),
    ("CPU ms/rec", 12),
)


def service_table(result: dict[str, Any], names: list[str]) -> list[str]:
    """Per service: drain times, memory, CPU by phase, records consumed and CPU per record consumed (all
    its replicas); a replica's own row (service-N) has its memory and CPU; then the CPU of PostgreSQL,
    the broker and the load generator."""
    cpu = result["cpu_percent_of_one_core"]
    rows = [f"\n{'':<14}" + "".join(f"{title:>{width}}" for title, width in COLUMNS)]
    for name in [*result["rss_mb"], "postgres", "kafka", "load generator"]:
        cells = [""] * 5
        if name in names:
            drain = result["drain_s"][name]
            cells = [_seconds(drain["lag"]), _seconds(drain["all"]), str(result["lag_max"][name]), "", ""]
        if (rss := result["rss_mb"].get(name)) is not None:
            cells[3:5] = [f"{rss['rest']} MB", f"{rss['max']} MB"]
        cells += [f"{cpu[phase].get(name, math.nan):.0f}%" for phase in ("peak", "drain")]
        cells += [str(result["consumed"].get(name, "")), str(result["cpu_ms_per_record"].get(name, ""))]
        rows.append(f"{name:<14}" + "".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    return rows


def print_report(result: dict[str, Any], target_drain: float, target_rss: float) -> None:
    names = list(result["lag_max"])
    o = result["offered"]
    print(
        f"\nMorning rush: {result['clinics']} clinics, their 08:00 hour at speed {result['speed']:g}"
        f" (a {result['peak_seconds']:.0f} s peak), set up {result['ready_before_t0_s']} s before T0"
        + "".join(f"; {service} x{n}" for service, n in result["replicas"].items())
        + "."
    )
    print(
        f"Offered: {o['calls']} calls ({o['calls_per_s']}/s, {o['booking_calls']} booking), due at T0 the check-ins"
        f" and review requests of {o['yesterdays_visits']} visits of yesterday, {o['reminders']} reminders in the"
        f" peak, {o['visits_in_peak']} visits completed in the peak; {o['events_sent_by_the_world']} events sent,"
        f" {o['http_failures']} HTTP commands failed."
    )
    print(
        "Came back (count, last seen s after T0): "
        + ", ".join(f"{kind} {v['count']} ({v['last_s']:g})" for kind, v in result["outcomes"].items())
    )
    waiting = [
        f"{service} {kind} {w['count']} (in {w['first_h']:g}-{w['last_h']:g} h)"
        for service, kinds in result["timers_waiting"].items()
        for kind, w in kinds.items()
    ]
    print("Timers set for later at the end (not due yet): " + (", ".join(waiting) or "none"))
    for service, counts in result["held"].items():
        print(f"{service} at the end: " + ", ".join(f"{what} {n}" for what, n in counts.items()))
    every = max(1, math.ceil((result["observed_until_s"] + REST) / 40))
    print("\nConsumer lag in records per service (+ overdue timers and unpublished outbox rows), by seconds after T0:")
    print("\n".join(timeline_rows(result, names, every)))
    print("\n".join(service_table(result, names)))
    per_call = ", ".join(f"{name} {n:g}" for name, n in result["phone_records_per_call"].items() if n)
    print(f"Records of a call's topics (call.*, agent.*, vendor.*) consumed per call: {per_call}.")
    busy = result["machine_busy_percent"]
    print(
        f"\nMachine: {os.cpu_count()} cores busy {busy['rest']:.0f}% at rest, {busy['peak']:.0f}% in the peak,"
        f" {busy['drain']:.0f}% in the drain (CPU columns: % of one core)."
    )
    c = result["connections"]
    print(f"PostgreSQL connections: {c['rest']} at rest, at most {c['max']} (max_connections 200):")
    print("  " + ", ".join(f"{db} {n}" for db, n in c["max_per_database"].items()))
    slow = [n for n in names if (d := result["drain_s"][n]["lag"]) is None or d > target_drain]
    heavy = [n for n, rss in result["rss_mb"].items() if rss["max"] > target_rss]
    print(f"Target: consumer lag drained within {target_drain:g} s of the peak's end: {_verdict(slow)}.")
    print(f"Target: no service over {target_rss:g} MB RSS: {_verdict(heavy)}.")


def _verdict(missed_by: list[str]) -> str:
    return "met" if not missed_by else "MISSED by " + ", ".join(missed_by)


def _seconds(value: float | None) -> str:
    return "not yet" if value is None else f"{value:g} s"


# --- entry point ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = RushConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--clinics", type=int, default=defaults.clinics, help="clinics in the network (500)")
    parser.add_argument("--speed", type=float, default=defaults.speed, help="the 08:00 hour played this much faster")
    parser.add_argument("--calls-per-day", type=int, default=defaults.calls_per_day, help="per clinic")
    parser.add_argument("--visits-per-day", type=int, default=defaults.visits_per_day, help="per clinic")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lead", type=float, help="seconds from start-up to T0 (default: 60 + 0.6 per clinic)")
    parser.add_argument("--max-drain", type=float, default=600, help="seconds to watch after the peak at most")
    parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of SERVICE in its consumer group (repeatable), e.g. followup=2",
    )
    parser.add_argument("--json", action="store_true", help="also print the whole result as JSON")
    args = parser.parse_args(argv)
    try:
        args.replicas = {svc: int(n) for svc, n in (item.split("=", 1) for item in args.replicas)}
    except ValueError:
        parser.error("--replicas takes SERVICE=N, e.g. followup=2")
    if not set(args.replicas) <= set(SERVICES) or any(n < 1 for n in args.replicas.values()):
        parser.error(f"--replicas: a service of {', '.join(SERVICES)} and N >= 1")
    if args.clinics < 1 or args.speed <= 0:
        parser.error("--clinics must be at least 1 and --speed positive")
    return args


def start_replicas(stack: LocalStack, replicas: dict[str, int]) -> None:
    """The extra instances of each service named in --replicas (instance 0 is already running)."""
    extra = [stack.replica(service, i) for service, n in replicas.items() for i in range(1, n)]
    for instance in extra:
        instance.start(wait=False)
    for instance in extra:
        instance.wait_ready()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("bench-rush", "WARNING", json_output=False)  # the stack's own progress lines: warnings only
    config = RushConfig(args.clinics, args.speed, args.calls_per_day, args.visits_per_day, seed=args.seed)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-rush-", ignore_cleanup_errors=True) as tmp:
        stack = LocalStack.ephemeral(Path(tmp), own_servers=True)
        # The EHR registers every patient of the morning at once: lift the per-client limit on contact changes.
        stack.extra_env["FRONTDESK_RATE_LIMITS"] = json.dumps({"contact-changes": 1_000_000})
        try:
            log("starting Kafka, PostgreSQL and the six services")
            stack.start_infrastructure()
            stack.start_services()
            start_replicas(stack, args.replicas)
            lead = args.lead if args.lead is not None else 60 + 0.6 * args.clinics
            result = asyncio.run(run_rush(stack, config, lead, args.max_drain))
        finally:
            log("stopping")
            stack.stop()
    result |= {
        "commit": commit.stdout.strip(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "replicas": args.replicas,
    }
    print_report(result, target_drain=60, target_rss=300)
    print(f"Commit {result['commit']}; load average {result['load_average_1m_at_end']} at the end.")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
