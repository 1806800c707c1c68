"""What the cluster fault tests ask the cluster: who leads which partition, how replicated it is,
what each broker runs with; and the faults they inject into one broker (a node of LocalStack.cluster)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from frontdesk.common.contracts import all_topics
from frontdesk.common.kafka import make_admin, make_reader
from frontdesk.tools.cluster import KafkaCluster
from frontdesk.tools.stack import Kafka, LocalStack

from .helpers import Action, descendants


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def partitions(bootstrap: str, topics: list[str] | None = None) -> dict[TopicPartition, PartitionState]:
    """Each partition's leader, replicas and in-sync replicas, as the cluster's metadata says; asked
    again (up to 30 s) while the broker the client happened to pick is down or frozen (a frozen
    broker still accepts connections: each attempt gets 3 s)."""
    names = topics or [t.name for t in all_topics()]
    deadline = time.monotonic() + 30
    while True:
        admin = make_admin(bootstrap, "fault-test-describe")
        try:
            await asyncio.wait_for(admin.start(), 3)
            described = await asyncio.wait_for(admin.describe_topics(names), 3)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
    return {
        TopicPartition(d["topic"], p["partition"]): PartitionState(p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
        for d in described
        for p in d["partitions"]
    }


async def configs(bootstrap: str, kind: ConfigResourceType, name: str) -> dict[str, str]:
    admin = make_admin(bootstrap, "fault-test-configs")
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(kind, name)])
    finally:
        await admin.close()
    return {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}


async def busiest_leader(bootstrap: str) -> tuple[int, list[TopicPartition]]:
    """The broker that leads the partitions with the most records (the busiest), and those partitions."""
    state = await partitions(bootstrap)
    reader = make_reader(bootstrap, "fault-test-offsets")
    await reader.start()
    try:
        ends = await reader.end_offsets(list(state))
    finally:
        await reader.stop()
    busiest = sorted(ends, key=lambda tp: -ends[tp])[:6]
    leaders = [state[tp].leader for tp in busiest]
    leader = max(set(leaders), key=leaders.count)
    return leader, [tp for tp in busiest if state[tp].leader == leader]


async def fully_replicated(bootstrap: str, timeout: float = 120) -> float:
    """Wait until every partition has all three replicas in sync again; return the seconds it took."""
    started = time.monotonic()
    while True:
        state = await partitions(bootstrap)
        if state and all(len(p.isr) == len(p.replicas) for p in state.values()):
            return round(time.monotonic() - started, 2)
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"partitions still under-replicated after {timeout:.0f} s")
        await asyncio.sleep(0.5)


def signal_node(node: Kafka, sig: int) -> Action:
    """SIGKILL, SIGSTOP or SIGCONT one broker's JVM (and anything it started)."""

    async def action() -> None:
        pid = node.process.pid()
        assert pid is not None, f"{node.name} is not running"
        for p in [pid, *descendants(pid)]:
            os.kill(p, sig)
        if sig == signal.SIGKILL:
            await asyncio.to_thread(node.process.kill)

    return action


def start_node(node: Kafka) -> Action:
    """Restart one broker and wait until it answers: the time it takes is the broker's recovery."""

    async def action() -> None:
        await asyncio.to_thread(node.start)

    return action


def stop_node(node: Kafka) -> Action:
    """A clean stop (SIGTERM: controlled shutdown hands its partitions over first), as an upgrade does."""

    async def action() -> None:
        await asyncio.to_thread(node.process.stop, signal.SIGTERM, 60)

    return action


def latency_during(routing: list[tuple[float, float]], start: float, end: float) -> dict[str, Any]:
    """Routing latency (seconds from call.received to call.routed) of the calls in flight at some point
    of [start, end], next to the others; and the longest time in that window in which no call.received
    was written at all (the phone side's producer waiting for the cluster too)."""

    def summary(values: list[float]) -> dict[str, Any]:
        values = sorted(values)
        if not values:
            return {"calls": 0}
        return {"calls": len(values), "p50": round(values[len(values) // 2], 3), "max": round(values[-1], 3)}

    during = [latency for at, latency in routing if at <= end and at + latency >= start]
    others = [latency for at, latency in routing if not (at <= end and at + latency >= start)]
    arrivals = [start, *sorted(at for at, _ in routing if start <= at <= end), end]
    no_intake = max(b - a for a, b in itertools.pairwise(arrivals))
    return {"during": summary(during), "otherwise": summary(others), "no_call_received_s": round(no_intake, 1)}


def cluster_of(stack: LocalStack) -> KafkaCluster:
    assert stack.cluster is not None, "not a cluster stack"
    return stack.cluster


async def group_coordinator(bootstrap: str, group: str) -> int:
    """The broker coordinating a consumer group (its offsets' partition leader)."""
    admin = make_admin(bootstrap, "fault-test-coordinator")
    await admin.start()
    try:
        return int(await admin.find_coordinator(group))
    finally:
        await admin.close()


async def acknowledged_write(producer: AIOKafkaProducer, topic: str) -> float:
    """Write one record; return the seconds until the cluster acknowledged it (raises if the producer
    gives up). The producer is started beforehand: starting one needs a working cluster."""
    started = time.monotonic()
    await producer.send_and_wait(topic, b"probe")
    return round(time.monotonic() - started, 2)
