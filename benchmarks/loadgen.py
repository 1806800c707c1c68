"""Load generators the benchmarks share: closed loop, open loop (no coordinated omission), a rate sweep."""

from __future__ import annotations

import asyncio
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


@dataclass
class Row:
    name: str
    results: list[tuple[int, float]]  # (status, latency ms) per attempt
    seconds: float
    offered: float | None = None  # attempts/s asked for (open loop)

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
        }


async def closed_loop(clients: int, jobs: list[Any], one: Attempt) -> Row:
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
    return Row("", out, time.perf_counter() - started)


async def open_loop(rate: float, jobs: list[Any], one: Attempt) -> Row:
    """Attempt i is due at start + i / rate and runs as its own task; latency counts from its due time."""
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
    return Row("", out, time.perf_counter() - started, offered=rate)


async def sweep(
    name: str, rates: list[float], seconds: float, jobs_for: Callable[[int], list[Any]], one: Attempt, budget: float
) -> tuple[list[Row], float]:
    """Open-loop steps at rising rates until p99 exceeds `budget` ms or the rate falls behind (the
    answers come back slower than they are asked for); the highest rate within budget, 0 if none.
    A step that fails is run once more before the sweep stops: on a shared machine one stall of a
    neighbour's can fail a step that the next run passes."""
    rows: list[Row] = []
    best = 0.0
    for rate in rates:
        for _ in range(2):
            row = await open_loop(rate, jobs_for(max(50, round(rate * seconds))), one)
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
