"""Processes dying under load: each service, the broker and the database, over a simulated day.

Proves: a service SIGKILLed at a random point and restarted, the Kafka broker SIGKILLed or stopped
cleanly and restarted, and PostgreSQL killed abruptly and restarted each leave the day's promises
intact: no lost event, no duplicate booking, message or page, every timer fired once; consumers and
producers recover by themselves (no restart of the services for the broker or the database), and the
services say they are not ready while the database is away.
"""

from __future__ import annotations

import random
import signal

from frontdesk.tools.stack import SERVICES, LocalStack

from .helpers import (
    Schedule,
    all_ready,
    kill_service,
    not_ready_seen,
    play,
    record,
    signal_group,
    start_service,
)


async def test_sigkill_each_service_at_random_points_under_load(healthy: LocalStack) -> None:
    rng = random.Random(5)
    steps = []
    for i, name in enumerate(SERVICES):
        at = 0.08 + 0.8 / len(SERVICES) * i + rng.uniform(0, 0.06)  # every service dies and returns in the day
        proc = healthy.service(name)
        steps += [(at, f"kill {name}", kill_service(proc)), (at + 0.05, f"restart {name}", start_service(proc))]
    schedule = Schedule(steps)
    result = await play(healthy, schedule)
    record("SIGKILL each service, restart", result, schedule)
    assert result.ok, result.problems
    assert len(schedule.timings) == 2 * len(SERVICES), "every kill and restart happened during the day"


async def test_broker_sigkill_and_clean_restart_under_load(healthy: LocalStack) -> None:
    kafka = healthy.kafka

    async def start_broker() -> None:
        import asyncio

        await asyncio.to_thread(kafka.start)

    async def stop_broker_cleanly() -> None:
        import asyncio

        await asyncio.to_thread(kafka.process.stop, signal.SIGTERM, 60)

    schedule = Schedule(
        [
            (0.2, "broker SIGKILL", signal_group(kafka.process.pid, signal.SIGKILL)),
            (0.25, "broker restart", start_broker),
            (0.25, "services resume after SIGKILL", all_ready(healthy)),
            (0.55, "broker clean stop", stop_broker_cleanly),
            (0.6, "broker restart 2", start_broker),
            (0.6, "services resume after clean stop", all_ready(healthy)),
        ]
    )
    result = await play(healthy, schedule)
    record("Kafka broker SIGKILL + clean restart", result, schedule)
    assert result.ok, result.problems
    # Producers and consumers reconnected by themselves: no service was restarted, all were ready again.
    for name in SERVICES:
        assert healthy.service(name).process.running()
    assert schedule.timings["services resume after SIGKILL"] < 30
    assert schedule.timings["services resume after clean stop"] < 30


async def test_postgres_killed_abruptly_services_not_ready_then_recover(healthy: LocalStack) -> None:
    postgres = healthy.postgres

    async def start_postgres() -> None:
        import asyncio

        await asyncio.to_thread(postgres.start)

    schedule = Schedule(
        [
            (0.3, "postgres SIGKILL (server and every backend)", signal_group(postgres.process.pid, signal.SIGKILL)),
            (0.3, "services report not ready", not_ready_seen(healthy, "database")),
            (0.4, "postgres restart (crash recovery)", start_postgres),
            (0.4, "services ready again", all_ready(healthy)),
        ]
    )
    result = await play(healthy, schedule)
    record("PostgreSQL SIGKILL + restart", result, schedule)
    assert result.ok, result.problems
    assert schedule.values["services report not ready"]["not_ready"] == sorted(SERVICES)
    for name in SERVICES:
        assert healthy.service(name).process.running(), f"{name} had to be restarted"
