"""A local Kafka cluster of three KRaft nodes (each broker and controller), as production runs it.

The same Maven jars and server.properties as the single local broker (stack.Kafka), with each node's
id, the three controller voters and production's replication settings
(frontdesk.common.contracts.registry.CLUSTER_BROKER_CONFIG, which the Strimzi manifests carry too).
`frontdesk stack up --brokers 3` runs it on fixed ports (9092, 9094, 9096; controllers one above
each); the cluster fault tests on free ports. Every port is checked before anything starts: one in
use is a clear error and nothing is left running.
"""

from __future__ import annotations

import base64
import contextlib
import signal
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from frontdesk.common.contracts.registry import CLUSTER_BROKER_CONFIG

from .ports import free_port
from .stack import Kafka

NODES = 3
HEAP = "384m"  # three JVMs on a laptop: each holds a few hundred MB of test traffic at most


class PortsInUse(RuntimeError):
    """Some of the cluster's ports are taken; nothing was started."""


def fixed_ports(first: int = 9092, nodes: int = NODES) -> list[tuple[int, int]]:
    """(client, controller) per node: 9092/9093, 9094/9095, 9096/9097 for `make up`'s cluster."""
    return [(first + 2 * i, first + 2 * i + 1) for i in range(nodes)]


def free_ports(nodes: int = NODES) -> list[tuple[int, int]]:
    return [(free_port(), free_port()) for _ in range(nodes)]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def new_cluster_id() -> str:
    """A KRaft cluster id, as `kafka-storage random-uuid` prints it (without starting a JVM)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka never issues one: it would read as a command-line option
            return text


@dataclass
class KafkaCluster:
    state_dir: Path
    ports: list[tuple[int, int]] = field(default_factory=fixed_ports)
    nodes: list[Kafka] = field(init=False)

    def __post_init__(self) -> None:
        voters = ",".join(f"{i}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(self.ports, 1))
        cluster_id = self._cluster_id()
        self.nodes = [
            Kafka(
                self.state_dir,
                port,
                controller,
                name=f"kafka-{i}",
                overrides={"node.id": str(i), "controller.quorum.voters": voters, **CLUSTER_BROKER_CONFIG},
                cluster_id=cluster_id,
                heap=HEAP,
            )
            for i, (port, controller) in enumerate(self.ports, 1)
        ]

    def _cluster_id(self) -> str:
        path = self.state_dir / "kafka-cluster-id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id())
        return path.read_text().strip()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> Kafka:
        return self.nodes[node_id - 1]

    def running(self) -> list[Kafka]:
        return [node for node in self.nodes if node.process.running()]

    def start(self, timeout: float = 120) -> None:
        """Start every node that is not running and wait until each answers; on any failure stop
        what this call started, so that nothing is left behind."""
        stopped = [node for node in self.nodes if not node.process.running()]
        busy = [
            f"{port} (kafka-{i} {kind})"
            for i, node in enumerate(self.nodes, 1)
            if node in stopped
            for kind, port in (("client", node.port), ("controller", node.controller_port))
            if not port_free(port)
        ]
        if busy:
            raise PortsInUse(
                f"cannot start the Kafka cluster: 127.0.0.1 ports in use: {', '.join(busy)}; nothing was started"
            )
        try:
            for node in stopped:
                node.launch()
            for node in stopped:
                node.wait_ready(timeout)
        except BaseException:
            for node in stopped:
                with contextlib.suppress(Exception):
                    node.process.stop(signal.SIGKILL, timeout=10)
            raise

    def stop(self) -> None:
        # All at once: a node stopping alone waits for the others to take over its partitions.
        for node in self.nodes:
            node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.process.stop(signal.SIGTERM, timeout=30)
