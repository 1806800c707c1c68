"""Erlang C staffing (domain.md section 1), computed with the Erlang B recursion (no overflow).

A = arrivals per interval x AHT (Erlangs); valid for N > A.
Ec(N, A) = [A^N/N! * N/(N-A)] / [sum_{k<N} A^k/k! + A^N/N! * N/(N-A)]
SL(T) = 1 - Ec * exp(-(N-A) T / AHT); ASA = Ec * AHT / (N-A); occupancy = A/N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(n: int, a: float) -> float:
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: int, a: float) -> float:
    """Probability that a call waits, with `n` agents and `a` Erlangs of traffic (1.0 if n <= a)."""
    if a <= 0:
        return 0.0
    if n <= a:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1 - b))


def service_level_erlang(n: int, a: float, target_seconds: float, aht_seconds: float) -> float:
    if a <= 0:
        return 1.0
    if n <= a:
        return 0.0
    return 1 - erlang_c(n, a) * math.exp(-(n - a) * target_seconds / aht_seconds)


def asa_erlang(n: int, a: float, aht_seconds: float) -> float:
    if a <= 0:
        return 0.0
    if n <= a:
        return math.inf
    return erlang_c(n, a) * aht_seconds / (n - a)


def required_agents(
    arrivals_per_hour: float, aht_seconds: float, target_sl: float = 0.9, target_seconds: float = 18.0
) -> int:
    """The fewest agents whose Erlang C service level reaches `target_sl` within `target_seconds`."""
    if arrivals_per_hour <= 0 or aht_seconds <= 0:
        return 0
    a = arrivals_per_hour * aht_seconds / 3600
    n = max(1, math.floor(a) + 1)
    while service_level_erlang(n, a, target_seconds, aht_seconds) < target_sl:
        n += 1
    return n


@dataclass(frozen=True)
class Staffing:
    arrivals_per_hour: float
    aht_seconds: float
    erlangs: float
    agents: int
    scheduled: int  # agents / (1 - shrinkage), rounded up
    service_level: float
    asa_seconds: float
    occupancy: float
    p_wait: float


def staffing_for(
    arrivals_per_hour: float,
    aht_seconds: float,
    target_sl: float = 0.9,
    target_seconds: float = 18.0,
    shrinkage: float = 0.0,
) -> Staffing:
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    n = required_agents(arrivals_per_hour, aht_seconds, target_sl, target_seconds)
    a = arrivals_per_hour * aht_seconds / 3600 if aht_seconds > 0 else 0.0
    return Staffing(
        arrivals_per_hour=arrivals_per_hour,
        aht_seconds=aht_seconds,
        erlangs=a,
        agents=n,
        scheduled=math.ceil(n / (1 - shrinkage) - 1e-9) if n else 0,
        service_level=service_level_erlang(n, a, target_seconds, aht_seconds) if n else 1.0,
        asa_seconds=asa_erlang(n, a, aht_seconds) if n else 0.0,
        occupancy=a / n if n else 0.0,
        p_wait=erlang_c(n, a) if n else 0.0,
    )


@dataclass(frozen=True)
class ObservedCall:
    """A call seen in the history window: its local hour of the week and handle time if it ended."""

    weekday: int  # 0 = Monday, in the clinic's zone
    hour: int  # 0-23, local
    handle_seconds: float | None = None


@dataclass(frozen=True)
class HourOfWeek:
    weekday: int
    hour: int
    arrivals_per_hour: float
    aht_seconds: float
    staffing: Staffing


def weekly_forecast(
    calls: list[ObservedCall],
    weeks: int,
    target_sl: float = 0.9,
    target_seconds: float = 18.0,
    shrinkage: float = 0.0,
    default_aht_seconds: float = 180.0,
) -> list[HourOfWeek]:
    """Receptionists needed for each of the 168 hours of the week, from `weeks` weeks of history.

    Arrivals per hour = calls seen in that local hour of the week / weeks. AHT = mean handle time
    of the ended calls in that hour, else over all hours, else `default_aht_seconds`.
    """
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    counts: dict[tuple[int, int], int] = {}
    handles: dict[tuple[int, int], list[float]] = {}
    for c in calls:
        slot = (c.weekday, c.hour)
        counts[slot] = counts.get(slot, 0) + 1
        if c.handle_seconds is not None and c.handle_seconds > 0:
            handles.setdefault(slot, []).append(c.handle_seconds)
    every = [h for hs in handles.values() for h in hs]
    overall = sum(every) / len(every) if every else default_aht_seconds
    out: list[HourOfWeek] = []
    for weekday in range(7):
        for hour in range(24):
            slot = (weekday, hour)
            arrivals = counts.get(slot, 0) / weeks
            slot_handles = handles.get(slot)
            aht = sum(slot_handles) / len(slot_handles) if slot_handles else overall
            out.append(
                HourOfWeek(
                    weekday, hour, arrivals, aht, staffing_for(arrivals, aht, target_sl, target_seconds, shrinkage)
                )
            )
    return out
