"""Free ports for the test stacks, handed out below the kernel's ephemeral range.

Binding port 0 and closing it is not enough: the kernel picks that port from its ephemeral range,
where every outgoing connection (a broker client, a database pool) also gets its local port, so
between our close and the service's bind a suite running in parallel can take it ("Address already
in use"). Below that range only listeners bind. A lock file per port, held until this process exits,
keeps two test processes on one machine from handing out the same port.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path
from typing import IO

# Below 20000 sit the ports people run things on (8001..., 9092..., 54329 is above the range anyway).
LOWEST = 20000
LINUX_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
# One folder per user: a folder another user owns is not writable.
LOCKS = Path(tempfile.gettempdir()) / f"frontdesk-ports-{os.getuid()}"

_held: dict[int, IO[str]] = {}


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on, that no other test process on this machine was given."""
    end = _ephemeral_start()
    if end - LOWEST < 1000:  # an unusual kernel setting: fall back to the kernel's choice
        return _kernel_choice(kind)
    for _ in range(200):
        port = random.randrange(LOWEST, end)
        if port not in _held and _bindable(port, kind) and _claim(port):
            return port
    raise RuntimeError(f"no free port found in {LOWEST}-{end - 1}")


def free_udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def _ephemeral_start() -> int:
    try:
        return int(LINUX_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # the range's start on Linux's default and by IANA's 49152, both above LOWEST


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _claim(port: int) -> bool:
    LOCKS.mkdir(exist_ok=True)
    lock = (LOCKS / str(port)).open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return False
    _held[port] = lock  # the lock lasts as long as this process: its stacks may restart on the port
    return True


def _kernel_choice(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
