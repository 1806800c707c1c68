"""Fault injection under simulated load: a schedule of faults keyed to the simulated day's progress,
and a record of each run (events in and out, duplicates, losses, recovery times) for docs/faults.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.tools.simulate import Result, SimConfig, Simulator
from frontdesk.tools.stack import SERVICES, LocalStack, ServiceProcess

# Two clinics (one open, one after hours), a day in 30 s: about 50 calls, bookings, visits, replies.
FAULT_DAY = SimConfig(seed=21, clinics=2, calls_per_day=26, visits_per_day=6, speed=2880, settle_timeout=180)

Action = Callable[[], Awaitable[Any]]


@dataclass
class Schedule:
    """Faults at fractions of the simulated day; each runs as its own task so the day keeps going."""

    steps: list[tuple[float, str, Action]]
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds it took (recovery time)
    began: dict[str, float] = field(default_factory=dict)  # step -> when it began (seconds since the epoch)
    values: dict[str, Any] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _started: set[str] = field(default_factory=set)
    _previous: asyncio.Task[None] | None = None

    async def __call__(self, fraction: float) -> None:
        for at, name, action in self.steps:
            if fraction >= at and name not in self._started:
                self._started.add(name)
                # Steps run in order: a restart never overtakes the kill before it.
                self._previous = asyncio.create_task(self._run(name, action, self._previous))
                self._tasks.append(self._previous)
        if fraction >= 1.0:
            await asyncio.gather(*self._tasks)

    async def _run(self, name: str, action: Action, after: asyncio.Task[None] | None) -> None:
        if after is not None:
            await after
        started = time.monotonic()
        self.began[name] = time.time()
        value = await action()
        self.timings[name] = round(time.monotonic() - started, 2)
        if value is not None:
            self.values[name] = value


async def play(stack: LocalStack, schedule: Schedule | None, config: SimConfig = FAULT_DAY) -> Result:
    urls = {name: stack.service(name).url for name in SERVICES}
    token = stack.api_token(subject="simulator")
    return await Simulator(stack.bootstrap, urls, config, token=token, progress=False).run(schedule)


def record(fault: str, result: Result, schedule: Schedule | None, **extra: Any) -> dict[str, Any]:
    """One line of the fault matrix; appended to $FRONTDESK_FAULT_REPORT (JSON lines) when set."""
    row = {
        "fault": fault,
        "ok": result.ok,
        "events_in": result.events_in,
        "http_commands": result.http_commands,
        "events_out": result.events_out,
        "redelivered": result.redelivered,
        "duplicates": sum(result.duplicates.values()),
        "losses": len([p for p in result.problems if "not settled" in p or "never" in p or "no outcome" in p]),
        "problems": result.problems[:10],
        "wall_seconds": round(result.wall_seconds, 1),
        "timings": schedule.timings if schedule else {},
        **({"values": schedule.values} if schedule and schedule.values else {}),
        **extra,
    }
    print(json.dumps(row))
    if path := os.environ.get("FRONTDESK_FAULT_REPORT"):
        with Path(path).open("a") as f:
            f.write(json.dumps(row) + "\n")
    return row


# --- actions ---------------------------------------------------------------------------------------


def kill_service(proc: ServiceProcess) -> Action:
    async def action() -> None:
        await asyncio.to_thread(proc.kill)

    return action


def start_service(proc: ServiceProcess) -> Action:
    """Start (or restart) and wait until ready: the time it takes is the recovery time."""

    async def action() -> None:
        await asyncio.to_thread(proc.start, False)
        await asyncio.to_thread(proc.wait_ready, 120)

    return action


def stop_service(proc: ServiceProcess) -> Action:
    async def action() -> None:
        await asyncio.to_thread(proc.stop)

    return action


def signal_group(pid_of: Callable[[], int | None], sig: int) -> Action:
    """Signal a process and all its descendants: the broker's JVM, or the PostgreSQL server with every
    backend (PostgreSQL puts each child in a session of its own, so a process group is not enough)."""

    async def action() -> None:
        pid = pid_of()
        assert pid is not None, "nothing to signal"
        tree = descendants(pid)
        for p in [pid, *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        if sig == signal.SIGKILL:
            for _ in range(200):  # up to 20 s for all of them to be gone
                if not any(_alive(p) for p in [pid, *tree]):
                    break
                await asyncio.sleep(0.1)

    return action


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(") ", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return not f.read().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return False


def all_ready(stack: LocalStack, timeout: float = 120) -> Action:
    async def action() -> None:
        for name in SERVICES:
            await asyncio.to_thread(stack.service(name).wait_ready, timeout)

    return action


def readiness(proc: ServiceProcess) -> dict[str, Any] | None:
    """The /readyz body (200 or 503), or None if the service does not answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(proc.ops_url + "/readyz", timeout=5) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))
    except OSError:
        return None


def not_ready_seen(stack: LocalStack, check: str, timeout: float = 30) -> Action:
    """Wait until every service reports `check` (database / kafka) false on /readyz: a clear error.
    Returns who said so, and who did not answer within 5 s (a probe that hangs is not a clear error)."""

    async def action() -> dict[str, list[str]]:
        seen: set[str] = set()
        hung: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < len(SERVICES) and time.monotonic() < deadline:
            for name in SERVICES:
                body = await asyncio.to_thread(readiness, stack.service(name))
                if body is None:
                    hung.add(name)
                elif body.get(check) is False:
                    seen.add(name)
            await asyncio.sleep(0.5)
        return {"not_ready": sorted(seen), "no_answer": sorted(hung)}

    return action


def rss_mb(proc: ServiceProcess) -> float:
    pid = proc.process.pid()
    assert pid is not None
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert match is not None
    return int(match.group(1)) / 1024
