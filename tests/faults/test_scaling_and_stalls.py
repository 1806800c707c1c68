"""Scaling a service out and back in, and dependencies that hang, under a simulated day.

Proves: call-router and scheduler scaled from 1 to 3 replicas and back while calls and bookings flow
rebalance without losing or duplicating anything (the replicas really join the consumer group); a
broker or a database frozen with SIGSTOP makes the services report exactly which dependency is not
ready, memory stays bounded, and everything recovers after SIGCONT without a restart.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from frontdesk.common.kafka import make_admin
from frontdesk.tools.stack import SERVICES, LocalStack

from .helpers import (
    Schedule,
    all_ready,
    not_ready_seen,
    play,
    record,
    rss_mb,
    signal_group,
    start_service,
    stop_service,
)

SCALED = ("call-router", "scheduler")


async def _members(stack: LocalStack, group: str) -> int:
    admin = make_admin(stack.bootstrap, "tests-faults")
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
        # DescribeGroups response: groups[i] = (error_code, group, state, protocol_type, protocol, members, ...)
        return len(described[0].groups[0][5])
    finally:
        await admin.close()


async def test_scale_out_to_three_replicas_and_back_under_load(healthy: LocalStack) -> None:
    extra = [healthy.replica(name, i) for name in SCALED for i in (1, 2)]

    def members_reach(count: int) -> Callable[[], Awaitable[dict[str, int]]]:
        async def action() -> dict[str, int]:
            seen: dict[str, int] = {}
            for name in SCALED:
                for _ in range(120):
                    seen[name] = await _members(healthy, f"frontdesk.{name}")
                    if seen[name] == count:
                        break
                    await asyncio.sleep(0.5)
            return seen

        return action

    steps = [(0.15, f"start {p.process.name}", start_service(p)) for p in extra]
    steps.append((0.15, "3 members per group", members_reach(3)))
    steps += [(0.6, f"stop {p.process.name}", stop_service(p)) for p in extra]
    steps.append((0.6, "1 member per group", members_reach(1)))
    schedule = Schedule(steps)
    result = await play(healthy, schedule)
    record("scale call-router and scheduler 1 -> 3 -> 1", result, schedule)
    assert result.ok, result.problems
    assert schedule.values["3 members per group"] == dict.fromkeys(SCALED, 3)
    assert schedule.values["1 member per group"] == dict.fromkeys(SCALED, 1)


async def test_frozen_broker_and_database_are_reported_bounded_and_recovered(healthy: LocalStack) -> None:
    before = {name: rss_mb(healthy.service(name)) for name in SERVICES}
    kafka, postgres = healthy.kafka.process, healthy.postgres.process

    async def hold() -> None:
        await asyncio.sleep(8)

    schedule = Schedule(
        [
            (0.15, "broker SIGSTOP", signal_group(kafka.pid, signal.SIGSTOP)),
            (0.15, "services report kafka not ready", not_ready_seen(healthy, "kafka")),
            (0.15, "broker frozen 8 s", hold),
            (0.15, "broker SIGCONT", signal_group(kafka.pid, signal.SIGCONT)),
            (0.15, "ready after broker freeze", all_ready(healthy)),
            (0.55, "postgres SIGSTOP", signal_group(postgres.pid, signal.SIGSTOP)),
            (0.55, "services report database not ready", not_ready_seen(healthy, "database")),
            (0.55, "postgres frozen 8 s", hold),
            (0.55, "postgres SIGCONT", signal_group(postgres.pid, signal.SIGCONT)),
            (0.55, "ready after database freeze", all_ready(healthy)),
        ]
    )
    try:
        result = await play(healthy, schedule)
    finally:  # never leave the stack frozen for the next test
        for proc in (kafka, postgres):
            await signal_group(proc.pid, signal.SIGCONT)()
    after = {name: rss_mb(healthy.service(name)) for name in SERVICES}
    growth = {name: round(after[name] - before[name], 1) for name in SERVICES}
    record("SIGSTOP broker 8 s, then database 8 s", result, schedule, rss_growth_mb=growth)
    assert result.ok, result.problems
    for dependency in ("kafka", "database"):
        report = schedule.values[f"services report {dependency} not ready"]
        assert report == {"not_ready": sorted(SERVICES), "no_answer": []}, report
    for name in SERVICES:
        assert healthy.service(name).process.running(), f"{name} had to be restarted"
        assert growth[name] < 200, f"{name} grew by {growth[name]} MB while a dependency hung"
