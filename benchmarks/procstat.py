"""What the benchmarks read about processes from Linux /proc: CPU seconds and resident memory.

CPU is user + system time, summed over every thread of a process. PostgreSQL runs one backend
process per connection, so its CPU is the postmaster's own, plus what its exited backends used
(the kernel adds a reaped child's time to its parent's cutime/cstime), plus its live backends'.
Every function answers None (or 0) where /proc cannot be read: a process that has exited, or
another operating system.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, the state, is index 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int | None, *, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds a process has used; with `reaped_children`, also its exited children's."""
    fields = None if pid is None else _stat_fields(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def postgres_cpu_seconds(postmaster: int | None) -> float | None:
    """Every CPU second the PostgreSQL server has used: postmaster, exited and live backends."""
    own = cpu_seconds(postmaster, reaped_children=True)
    if postmaster is None or own is None:
        return None
    return own + sum(cpu_seconds(child) or 0.0 for child in children(postmaster))


def rss_bytes(pid: int | None) -> int | None:
    """The process's resident set size (VmRSS)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine since boot, every core together (/proc/stat):
    busy is user, nice, system, irq and softirq time; stolen is what the hypervisor gave to others."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS
