"""The simulator's answering-service vendors: a silent one answers nothing, vendors offered the same
call race once each, and the silent window is fractions of the simulated day (no broker needed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import CallOverflowed, Event
from frontdesk.tools.simulate import SILENT_VENDOR, VENDORS, SimConfig, Simulator


def simulator(window: tuple[float, float] | None) -> tuple[Simulator, list[tuple[str, float]]]:
    sim = Simulator("127.0.0.1:1", {}, SimConfig(seed=5, run_id="unit", silent_window=window), token="t")
    answered: list[tuple[str, float]] = []

    async def answer(_state: Any, _kind: str, target: str, delay: float, _handle: float) -> None:
        answered.append((target, delay))

    sim._answer = answer  # type: ignore[method-assign]
    return sim, answered


def overflowed(sim: Simulator, vendor: str, attempt: int) -> Envelope[Event]:
    call = sim.plan.calls[0]
    now = datetime.now(UTC)
    event = CallOverflowed(
        call_id=call.call_id,
        clinic_id=call.clinic_id,
        vendor_id=vendor,
        reason="vendor_failover",
        overflowed_at=now,
        answer_by=now,
        caller_token=call.caller_token,
        attempt=attempt,
    )
    return Envelope(id=f"e{attempt}", source="router", type=event.event_type, time=now, data=event)


async def test_a_silent_vendor_never_picks_up_and_the_other_answers_once() -> None:
    sim, answered = simulator((0.0, 1.0))  # silent all day
    for n, vendor in enumerate((SILENT_VENDOR, VENDORS[1], VENDORS[1]), start=1):
        sim._react(overflowed(sim, vendor, n))
    await asyncio.gather(*sim._tasks)
    assert answered == [(VENDORS[1], sim.plan.calls[0].vendor_delays[1])]


async def test_two_vendors_offered_one_call_both_race_for_it() -> None:
    sim, answered = simulator(None)
    sim._react(overflowed(sim, VENDORS[0], 1))
    sim._react(overflowed(sim, VENDORS[1], 2))
    await asyncio.gather(*sim._tasks)
    assert [v for v, _ in answered] == list(VENDORS)


def test_the_silent_window_is_a_share_of_the_played_day() -> None:
    sim, _ = simulator((0.4, 0.6))
    start = sim._started_ms
    day_ms = int(sim.config.day_seconds * 1000)
    inside, before = start + day_ms // 2, start + day_ms // 4
    assert sim.silent_between(SILENT_VENDOR, inside, inside)
    assert not sim.silent_between(SILENT_VENDOR, before, before)
    assert sim.silent_between(SILENT_VENDOR, before, inside)  # a call whose budget reaches into it
    assert not sim.silent_between(VENDORS[1], inside, inside)
    assert not simulator(None)[0].silent_between(SILENT_VENDOR, inside, inside)
