"""A SIP rig on loopback: Kamailio (deploy/sip/kamailio.cfg) asking phone-bridge where calls ring,
SIPp phones (deploy/sip/scenarios) that answer after a delay, never answer or are busy, desk phones
that register (or unregister), and SIPp callers whose INVITE -> 200 OK time SIPp measures itself
(-trace_rtt).

Every process binds 127.0.0.1 only, on free ports (SIPp's media and control ports too), keeps its
pid and runtime files under the rig's folder, and is stopped by its own pid (`stop`).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

from .ports import free_udp_port

SIP_DIR = Path(__file__).resolve().parents[4] / "deploy" / "sip"
Behaviour = Literal["answers", "never_answers", "busy"]


def _stop(process: subprocess.Popen[bytes], timeout: float = 5) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports_apart(count: int, taken: set[int]) -> list[int]:
    """Free UDP ports, none within 4 of another or of `taken`, each with the three above it free too:
    the OS may hand the same free port out twice, and SIPp binds its media port and the three above it
    (RTCP, video)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = free_udp_port()
        if all(abs(port - other) > 4 for other in (*taken, *chosen)) and all(
            _udp_free(p) for p in range(port + 1, port + 4)
        ):
            chosen.append(port)
    return chosen


@dataclass
class Phone:
    """A SIPp user agent server standing for a desk phone or a vendor's line."""

    name: str
    behaviour: Behaviour
    port: int
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@127.0.0.1:{self.port}"


@dataclass(frozen=True)
class CallResult:
    sip_call_id: str
    ok: bool  # SIPp's exit status: the scenario ran to its end
    invite_to_200_ms: float | None  # SIPp's own measurement (None: no 200 OK)
    # When each phone started ringing, as the caller heard it: its first 180, in ms after the INVITE
    # (SIPp's message trace; a phone is known by the process id in its To tag).
    ringing_ms: dict[str, float] = field(default_factory=dict)


_TRACE_HEAD = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$", re.MULTILINE)
_SIPP_TAG = re.compile(r"^To:.*;tag=(\d+)SIPpTag", re.MULTILINE)


def ringing_from_trace(trace: str, phones: dict[int, str]) -> dict[str, float]:
    """From a SIPp caller's message trace (-trace_msg): each phone's first 180 Ringing, in ms after the
    INVITE was sent, by phone name (`phones`: SIPp process id -> name)."""
    parts = _TRACE_HEAD.split(trace)[1:]
    sent_at: datetime | None = None
    ringing: dict[str, float] = {}
    for stamp, body in zip(parts[::2], parts[1::2], strict=True):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        first = body.split("\n\n", 1)[-1].lstrip().split("\r\n", 1)[0].split("\n", 1)[0]
        if sent_at is None and first.startswith("INVITE "):
            sent_at = at
        elif sent_at is not None and first.startswith("SIP/2.0 180") and (tag := _SIPP_TAG.search(body)):
            name = phones.get(int(tag.group(1)), f"pid-{tag.group(1)}")
            ringing.setdefault(name, (at - sent_at).total_seconds() * 1000)
    return ringing


@dataclass
class SipRig:
    workdir: Path
    bridge_port: int
    proxy_port: int = field(default_factory=free_udp_port)
    fallback_uri: str = "sip:fallback@127.0.0.1:5099"
    phones: list[Phone] = field(default_factory=list)
    _proxy: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def start_proxy(self) -> None:
        """Kamailio with the repository's configuration, its settings defined ahead of it."""
        defines = {
            "PROXY_LISTEN": f"udp:127.0.0.1:{self.proxy_port}",
            "BRIDGE_URI": f'"sip:127.0.0.1:{self.bridge_port}"',
            "FALLBACK_URI": f'"{self.fallback_uri}"',
        }
        config = self.workdir / "kamailio.cfg"
        body = (SIP_DIR / "kamailio.cfg").read_text()
        head, _, rest = body.partition("\n")  # the #!KAMAILIO line stays first
        config.write_text(head + "\n" + "".join(f"#!define {k} {v}\n" for k, v in defines.items()) + rest)
        run = self.workdir / "kamailio-run"
        run.mkdir(exist_ok=True)
        log = self._log("kamailio")
        self._proxy = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-f", str(config), "-P", str(run / "kamailio.pid"), "-Y", str(run)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        self._wait_listening(self.proxy_port, self._proxy, "kamailio")

    def phone(self, name: str, behaviour: Behaviour, *, answer_after_ms: int = 0) -> Phone:
        """A SIPp phone on its own port: `answers` after `answer_after_ms` of ringing, `never_answers`, `busy`."""
        for attempt in range(3):  # another process may take one of its ports between the choice and the bind
            port = free_udp_port()
            scenario = str(SIP_DIR / "scenarios" / f"{behaviour}.xml")
            process = self._sipp(name, ["-sf", scenario, "-p", str(port), "-d", str(answer_after_ms)])
            try:
                self._wait_listening(port, process, name)
                break
            except RuntimeError:
                process.kill()
                if attempt == 2:
                    raise
        phone = Phone(name, behaviour, port, process)
        self.phones.append(phone)
        return phone

    def call(self, dialled: str, *, hang_up_after_ms: int | None = None, timeout: float = 60) -> CallResult:
        """One call from a SIPp caller to `dialled`, run to its end: answered and hung up after 300 ms of
        talk, or cancelled once `hang_up_after_ms` pass without a new 180 Ringing."""
        token = "rig-" + secrets.token_hex(6)
        folder = self.workdir / token
        folder.mkdir()
        scenario = SIP_DIR / "scenarios" / "caller.xml"
        if hang_up_after_ms is not None:
            scenario = folder / "caller_hangs_up.xml"
            template = (SIP_DIR / "scenarios" / "caller_hangs_up.xml").read_text()
            scenario.write_text(template.replace("HANG_UP_MS", str(hang_up_after_ms)))
        args = ["-sf", str(scenario), "-s", dialled, "-m", "1", "-l", "1", "-d", "300"]
        args += ["-cid_str", f"{token}-%u@%s", "-trace_rtt", "-rtt_freq", "1", "-timeout", f"{int(timeout)}s"]
        args += ["-trace_msg", "-p", str(free_udp_port()), f"127.0.0.1:{self.proxy_port}"]
        process = self._sipp(token, args, cwd=folder)
        try:
            process.wait(timeout + 10)
        except subprocess.TimeoutExpired:
            _stop(process)
        rtts = [line.split(";") for f in folder.glob("*_rtt.csv") for line in f.read_text().splitlines()[1:]]
        measured = [float(row[1]) for row in rtts if len(row) >= 2 and row[1].strip()]
        trace = "".join(f.read_text(errors="replace") for f in folder.glob("*_messages.log"))
        ringing = ringing_from_trace(trace, {p.process.pid: p.name for p in self.phones})
        return CallResult(f"{token}-1@127.0.0.1", process.returncode == 0, measured[0] if measured else None, ringing)

    def register(self, user: str, *, expires_seconds: int, timeout: float = 10) -> bool:
        """A desk phone's REGISTER of sip:<user>@127.0.0.1 through the proxy (0 unregisters): True on 200 OK."""
        token = "reg-" + secrets.token_hex(6)
        folder = self.workdir / token
        folder.mkdir()
        args = ["-sf", str(SIP_DIR / "scenarios" / "register.xml"), "-s", user, "-m", "1", "-l", "1"]
        args += ["-key", "expires", str(expires_seconds), "-timeout", f"{int(timeout)}s"]
        args += ["-p", str(free_udp_port()), f"127.0.0.1:{self.proxy_port}"]
        process = self._sipp(token, args, cwd=folder)
        try:
            process.wait(timeout + 10)
        except subprocess.TimeoutExpired:
            _stop(process)
        return process.returncode == 0

    def load(self, dialled: str, *, count: int, rate_per_second: float, timeout: float = 120) -> list[float]:
        """`count` answered calls to `dialled` at a constant rate from one SIPp caller; each call's
        INVITE -> 200 OK (ms, SIPp's measurement) for those answered."""
        token = "load-" + secrets.token_hex(6)
        folder = self.workdir / token
        folder.mkdir()
        args = ["-sf", str(SIP_DIR / "scenarios" / "caller.xml"), "-s", dialled, "-m", str(count), "-d", "300"]
        args += ["-r", str(rate_per_second), "-rp", "1000", "-l", str(max(count, 1))]
        args += ["-cid_str", f"{token}-%u@%s", "-trace_rtt", "-rtt_freq", "1", "-timeout", f"{int(timeout)}s"]
        args += ["-p", str(free_udp_port()), f"127.0.0.1:{self.proxy_port}"]
        process = self._sipp(token, args, cwd=folder)
        try:
            process.wait(timeout + 10)
        except subprocess.TimeoutExpired:
            _stop(process)
        rows = [line.split(";") for f in folder.glob("*_rtt.csv") for line in f.read_text().splitlines()[1:]]
        return [float(row[1]) for row in rows if len(row) >= 2 and row[1].strip()]

    def stop(self) -> None:
        for phone in self.phones:
            _stop(phone.process)
        self.phones.clear()
        if self._proxy is not None:
            _stop(self._proxy)
            self._proxy = None
        for log in self._logs:
            log.close()
        self._logs.clear()

    def _sipp(self, name: str, args: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
        # Loopback only, every port chosen here: SIPp would otherwise bind its media ports and its
        # control port (8888) on all interfaces.
        sip_port = int(args[args.index("-p") + 1]) if "-p" in args else 0
        media, control = _ports_apart(2, {sip_port})
        base = ["sipp", "-i", "127.0.0.1", "-mp", str(media), "-cp", str(control), "-nostdin"]
        return subprocess.Popen(
            [*base, "-aa", "-deadcall_wait", "1000", *args],
            stdout=self._log(name),
            stderr=subprocess.STDOUT,
            cwd=cwd or self.workdir,
            env={**os.environ, "TERM": "dumb"},
        )

    def _log(self, name: str) -> IO[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        return log

    @staticmethod
    def _wait_listening(port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start (status {process.returncode})")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return  # taken: the process is listening
            time.sleep(0.05)
        raise RuntimeError(f"{name} never listened on udp 127.0.0.1:{port}")
