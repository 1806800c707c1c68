"""Faults on a three-broker cluster replicated as production (replication factor 3,
min.insync.replicas 2, no unclean leader election), each under a simulated day through the services.

Proves: the cluster's topics and brokers run with production's settings; the leader of the busiest
partitions SIGKILLed, a broker frozen past every session timeout, a rolling restart of all three and
two brokers down at once each leave the day's promises intact (every input has its outcome, no
duplicate side effect, no gap in any partition's order); producers never see an unreplicated write
acknowledged; consumers and producers recover by themselves (no service restarted). Each run is a
line of docs/faults.md (FRONTDESK_FAULT_REPORT).
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from typing import Any

from aiokafka.admin.config_resource import ConfigResourceType

from frontdesk.common.contracts.registry import CLUSTER_BROKER_CONFIG, REPLICATION_FACTOR, TopicSpec, all_topics
from frontdesk.common.kafka import ensure_topics, make_producer
from frontdesk.tools.stack import SERVICES, LocalStack

from .cluster_helpers import (
    acknowledged_write,
    busiest_leader,
    cluster_of,
    configs,
    fully_replicated,
    group_coordinator,
    latency_during,
    partitions,
    signal_node,
    start_node,
    stop_node,
)
from .helpers import FAULT_DAY, Action, Schedule, all_ready, not_ready_seen, play, record

FREEZE_SECONDS = 15.0  # past broker.session.timeout.ms (9 s) and the consumers' session.timeout.ms (10 s)
OUTAGE_SECONDS = 10.0  # two brokers down, then one restarts (~20 s more): producers wait, they do not fail
PROBE = TopicSpec("fault-test.probe", partitions=1)  # a topic no service reads: the test's own writes


async def test_cluster_runs_with_production_replication(cluster_healthy: LocalStack) -> None:
    bootstrap = cluster_healthy.bootstrap
    state = await partitions(bootstrap)
    assert {tp.topic for tp in state} == {t.name for t in all_topics()}
    for tp, p in state.items():
        assert len(p.replicas) == REPLICATION_FACTOR and len(p.isr) == REPLICATION_FACTOR, (tp, p)
    for spec in all_topics()[:5]:
        topic = await configs(bootstrap, ConfigResourceType.TOPIC, spec.name)
        assert {k: topic[k] for k in spec.replicated_config()} == spec.replicated_config(), spec.name
        assert topic["unclean.leader.election.enable"] == "false"
    for i, _ in enumerate(cluster_of(cluster_healthy).nodes, 1):
        broker = await configs(bootstrap, ConfigResourceType.BROKER, str(i))
        assert {k: broker[k] for k in CLUSTER_BROKER_CONFIG} == CLUSTER_BROKER_CONFIG, i


def _assert_recovered_by_themselves(stack: LocalStack) -> None:
    for name in SERVICES:
        assert stack.service(name).process.running(), f"{name} had to be restarted"
        assert stack.service(name).ready(), f"{name} is not ready after the fault"


def _new_leaders(stack: LocalStack, victim: dict[str, Any]) -> Action:
    """Wait until no partition of the victim's is led by it or leaderless: the time to fail over."""

    async def action() -> None:
        wanted = victim["partitions"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = await partitions(stack.bootstrap, sorted({tp.topic for tp in wanted}))
            if all(state[tp].leader not in (victim["node"], -1) for tp in wanted):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"broker {victim['node']} still leads some of its partitions after 60 s")

    return action


def _in_sync(stack: LocalStack) -> Action:
    async def action() -> None:
        await fully_replicated(stack.bootstrap)

    return action


async def test_leader_of_busiest_partitions_sigkilled_and_restarted(cluster_healthy: LocalStack) -> None:
    stack = cluster_healthy
    cluster = cluster_of(stack)
    victim: dict[str, Any] = {}

    async def find_busiest_leader() -> dict[str, Any]:
        leader, busiest = await busiest_leader(stack.bootstrap)
        victim.update(node=leader, partitions=busiest)
        return {"broker": leader, "partitions": [f"{tp.topic}-{tp.partition}" for tp in busiest]}

    async def kill() -> None:
        await signal_node(cluster.node(victim["node"]), signal.SIGKILL)()

    async def restart() -> None:
        await start_node(cluster.node(victim["node"]))()

    schedule = Schedule(
        [
            (0.05, "busiest partitions' leader", find_busiest_leader),
            (0.2, "SIGKILL it", kill),
            (0.2, "new leaders elected", _new_leaders(stack, victim)),
            (0.2, "services ready", all_ready(stack)),
            (0.5, "broker restarted", restart),
            (0.5, "every replica back in sync", _in_sync(stack)),
        ]
    )
    result = await play(stack, schedule)
    routing = latency_during(result.routing, schedule.began["SIGKILL it"], schedule.began["broker restarted"])
    record("cluster: busiest leader SIGKILL + restart", result, schedule, routing=routing)
    assert result.ok, result.problems
    _assert_recovered_by_themselves(stack)


async def test_broker_frozen_past_the_session_timeouts_then_resumed(cluster_healthy: LocalStack) -> None:
    """SIGSTOP the coordinator of call-router's consumer group for 15 s: past the brokers' session
    with the controller (9 s, then it is fenced and its partitions get new leaders) and the consumers'
    session (10 s, then the group finds a new coordinator). Then SIGCONT: it catches up and rejoins."""
    stack = cluster_healthy
    cluster = cluster_of(stack)
    victim: dict[str, Any] = {}

    async def find_coordinator() -> dict[str, Any]:
        node = await group_coordinator(stack.bootstrap, "frontdesk.call-router")
        state = await partitions(stack.bootstrap)
        victim.update(node=node, partitions=[tp for tp, p in state.items() if p.leader == node])
        return {"broker": node, "partitions_led": len(victim["partitions"])}

    async def freeze() -> None:
        await signal_node(cluster.node(victim["node"]), signal.SIGSTOP)()

    async def frozen() -> None:
        await asyncio.sleep(FREEZE_SECONDS)

    async def resume() -> None:
        await signal_node(cluster.node(victim["node"]), signal.SIGCONT)()

    schedule = Schedule(
        [
            (0.15, "group coordinator", find_coordinator),
            (0.2, "SIGSTOP it", freeze),
            (0.2, "new leaders elected", _new_leaders(stack, victim)),
            (0.2, "frozen (from SIGSTOP)", frozen),
            (0.2, "SIGCONT", resume),
            (0.2, "every replica back in sync", _in_sync(stack)),
            (0.2, "services ready", all_ready(stack)),
        ]
    )
    result = await play(stack, schedule)
    routing = latency_during(result.routing, schedule.began["SIGSTOP it"], schedule.began["SIGCONT"])
    record(f"cluster: broker SIGSTOP {FREEZE_SECONDS:.0f} s + SIGCONT", result, schedule, routing=routing)
    assert result.ok, result.problems
    _assert_recovered_by_themselves(stack)


async def test_rolling_restart_of_all_three_brokers(cluster_healthy: LocalStack) -> None:
    """One broker at a time, as an upgrade does: a clean stop (its leaderships move first), a start,
    and the next only once every partition has all three replicas in sync again."""
    stack = cluster_healthy
    steps: list[tuple[float, str, Action]] = []
    for node in cluster_of(stack).nodes:
        steps += [
            (0.1, f"{node.name} clean stop", stop_node(node)),
            (0.1, f"{node.name} start", start_node(node)),
            (0.1, f"{node.name} back in sync", _in_sync(stack)),
        ]
    schedule = Schedule(steps)
    result = await play(stack, schedule, dataclasses.replace(FAULT_DAY, speed=FAULT_DAY.speed / 2))
    last = cluster_of(stack).nodes[-1].name
    routing = latency_during(result.routing, schedule.began[steps[0][1]], schedule.began[f"{last} back in sync"])
    record("cluster: rolling restart of all three brokers", result, schedule, routing=routing)
    assert result.ok, result.problems
    assert len(schedule.timings) == len(steps), "the whole rolling restart happened during the day"
    _assert_recovered_by_themselves(stack)


async def test_two_brokers_down_writes_wait_for_replicas_then_recover(cluster_healthy: LocalStack) -> None:
    """Two of three brokers SIGKILLed together: no write can reach min.insync.replicas=2 (and the one
    left has no controller quorum), so a producer's acknowledgement must not come until a second broker
    is back; the services say they are not ready meanwhile and recover by themselves."""
    stack = cluster_healthy
    cluster = cluster_of(stack)
    await ensure_topics(stack.bootstrap, [PROBE])
    producer = make_producer(stack.bootstrap, "fault-test-probe")  # the services' settings
    await producer.start()
    await acknowledged_write(producer, PROBE.name)
    down = cluster.nodes[1:]
    probe: dict[str, Any] = {}

    async def kill_two() -> None:
        await asyncio.gather(*(signal_node(node, signal.SIGKILL)() for node in down))
        probe["task"] = asyncio.create_task(acknowledged_write(producer, PROBE.name))

    async def outage() -> dict[str, Any]:
        started = time.monotonic()
        seen = await not_ready_seen(stack, "kafka", timeout=OUTAGE_SECONDS)()
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
        return seen

    async def restart_one() -> None:
        task: asyncio.Task[float] = probe["task"]
        probe["acknowledged_while_two_down"] = task.done() and task.exception() is None
        await start_node(down[0])()

    async def probe_acknowledged() -> float:
        return float(await probe["task"])  # seconds from the write to its acknowledgement

    async def restart_other() -> None:
        await start_node(down[1])()

    schedule = Schedule(
        [
            (0.2, "SIGKILL two brokers", kill_two),
            (0.2, "outage", outage),
            (0.2, "first broker restarted", restart_one),
            (0.2, "held write acknowledged", probe_acknowledged),
            (0.2, "services ready", all_ready(stack)),
            (0.2, "second broker restarted", restart_other),
            (0.2, "every replica back in sync", _in_sync(stack)),
        ]
    )
    try:
        result = await play(stack, schedule)
    finally:
        await producer.stop()
    routing = latency_during(
        result.routing, schedule.began["SIGKILL two brokers"], schedule.began["held write acknowledged"]
    )
    record("cluster: two brokers down at once", result, schedule, routing=routing)
    assert result.ok, result.problems
    assert probe["acknowledged_while_two_down"] is False, "a write was acknowledged with one broker up"
    assert schedule.values["outage"]["not_ready"] == sorted(SERVICES), "services said ready with two brokers down"
    _assert_recovered_by_themselves(stack)
