"""Load generators the benchmarks share: closed loop, open loop (no coordinated omission), a rate sweep,
and the CPU that each attempt cost the processes involved."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

# One attempt: do it, return its status (HTTP-like: 2xx, 409, anything else is an error).
Attempt = Callable[[Any], Awaitable[int]]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of a live process, (-1, 0) for a gone one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return -1, 0.0
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """CPU time (user + system) of some processes, each with its children (PostgreSQL's backends are
    the postmaster's), read from /proc: what an attempt costs, known however busy the machine is with
    other work. A child that exits during a step takes its time with it (a vacuum worker, rarely)."""

    def __init__(self, processes: dict[str, tuple[int | None, bool]]) -> None:
        """`processes`: name -> (pid, whether its children count too); a None pid is left out."""
        self.processes = {name: (pid, kids) for name, (pid, kids) in processes.items() if pid is not None}

    def read(self) -> dict[str, float]:
        own: dict[int, float] = {}
        children: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                parent, seconds = _cpu_seconds(int(entry))
                own[int(entry)] = seconds
                children[parent] = children.get(parent, 0.0) + seconds
        return {
            name: own.get(pid, 0.0) + (children.get(pid, 0.0) if kids else 0.0)
            for name, (pid, kids) in self.processes.items()
        }


@dataclass
class Row:
    name: str
    results: list[tuple[int, float]]  # (status, latency ms) per attempt
    seconds: float
    offered: float | None = None  # attempts/s asked for (open loop)
    cpu_ms: dict[str, float] | None = None  # CPU ms per attempt, by process

    def measured(self, meter: CpuMeter | None, before: dict[str, float] | None) -> Row:
        if meter is not None and before is not None and self.results:
            after = meter.read()
            self.cpu_ms = {k: round((after[k] - before[k]) * 1000 / len(self.results), 2) for k in before}
        return self

    def as_dict(self) -> dict[str, Any]:
        latencies = [ms for _, ms in self.results]
        return {
            "scenario": self.name,
            "offered_per_s": self.offered,
            "attempts": len(self.results),
            "booked": sum(1 for c, _ in self.results if c == 201),
            "conflicts": sum(1 for c, _ in self.results if c == 409),
            "errors": sum(1 for c, _ in self.results if c not in (200, 201, 409)),
            "attempts_per_s": round(len(self.results) / self.seconds, 1),
            "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2),
            "cpu_ms_per_attempt": self.cpu_ms,
        }


async def closed_loop(clients: int, jobs: list[Any], one: Attempt, meter: CpuMeter | None = None) -> Row:
    before = meter.read() if meter else None
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
    return Row("", out, time.perf_counter() - started).measured(meter, before)


async def open_loop(rate: float, jobs: list[Any], one: Attempt, meter: CpuMeter | None = None) -> Row:
    """Attempt i is due at start + i / rate and runs as its own task; latency counts from its due time."""
    before = meter.read() if meter else None
    out: list[tuple[int, float]] = []

    async def attempt(job: Any, due: float) -> None:
        code = await one(job)
        out.append((code, (time.perf_counter() - due) * 1000))

    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter() + 0.01
    for i, job in enumerate(jobs):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0.001:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(attempt(job, due)))
    await asyncio.gather(*tasks)
    return Row("", out, time.perf_counter() - started, offered=rate).measured(meter, before)


async def sweep(
    name: str,
    rates: list[float],
    seconds: float,
    jobs_for: Callable[[int], list[Any]],
    one: Attempt,
    budget: float,
    meter: CpuMeter | None = None,
) -> tuple[list[Row], float]:
    """Open-loop steps at rising rates until p99 exceeds `budget` ms or the rate falls behind (the
    answers come back slower than they are asked for); the highest rate within budget, 0 if none.
    A step that fails is run once more before the sweep stops: on a shared machine one stall of a
    neighbour's can fail a step that the next run passes."""
    rows: list[Row] = []
    best = 0.0
    for rate in rates:
        for _ in range(2):
            row = await open_loop(rate, jobs_for(max(50, round(rate * seconds))), one, meter)
            row.name = f"{name} @ {rate:g}/s"
            rows.append(row)
            summary = row.as_dict()
            kept_up = summary["attempts_per_s"] >= 0.95 * rate
            if summary["p99_ms"] <= budget and kept_up and not summary["errors"]:
                best = rate
                break
        else:
            break
    return rows, best
