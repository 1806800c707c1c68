"""The test stacks' ports: below the kernel's ephemeral range, and never handed out twice on one machine."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from frontdesk.tools import ports


def test_ports_come_from_below_the_ephemeral_range_and_are_free() -> None:
    start = ports._ephemeral_start()
    given = [ports.free_port() for _ in range(50)]
    assert len(set(given)) == len(given)
    for port in given:
        assert ports.LOWEST <= port < start
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # nobody listens there


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        draws = iter([taken, *range(taken + 1, taken + 100)])
        monkeypatch.setattr(ports, "LOWEST", 1024)
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: 65536)
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(draws))
        assert taken < ports.free_port() < taken + 100


def test_another_process_never_gets_a_port_this_one_holds() -> None:
    mine = {ports.free_port() for _ in range(100)}
    code = "from frontdesk.tools import ports\nprint(' '.join(str(ports.free_port()) for _ in range(300)))"
    theirs = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert not mine & {int(p) for p in theirs.split()}


def test_udp_ports_too() -> None:
    port = ports.free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
