"""Bad input for the local cluster: ports already in use are a clear error, and nothing is left running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from frontdesk.tools.cluster import PortsInUse
from frontdesk.tools.stack import LocalStack, port_open


def test_cluster_on_a_port_in_use_fails_clearly_and_starts_nothing(tmp_path: Path) -> None:
    stack = LocalStack.ephemeral(tmp_path, own_servers=True, brokers=3)
    assert stack.cluster is not None
    third = stack.cluster.nodes[2]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", third.controller_port))
        squatter.listen()
        with pytest.raises(PortsInUse) as error:
            stack.start_infrastructure()
    message = str(error.value)
    assert f"{third.controller_port} (kafka-3 controller)" in message
    assert "nothing was started" in message
    for node in stack.cluster.nodes:
        assert not node.process.running(), node.name
        assert not node.process.pid_file.exists(), f"{node.name} was spawned"
        assert not port_open(node.port), node.name
    assert not stack.postgres.process.running()


def test_stack_up_with_three_brokers_on_a_port_in_use_exits_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from frontdesk.tools import cli, cluster

    ports = cluster.free_ports()
    monkeypatch.setattr(cluster, "fixed_ports", lambda first=9092, nodes=3: ports)  # not 9092...: shared machine
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[0][0]))
        squatter.listen()
        code = cli.main(["--state-dir", str(tmp_path), "stack", "up", "--brokers", "3"])
    assert code == 2
    assert f"{ports[0][0]} (kafka-1 client)" in capsys.readouterr().err
    stack = LocalStack(tmp_path)
    assert stack.cluster is not None and not stack.cluster.running()
    assert not stack.postgres.process.running()
