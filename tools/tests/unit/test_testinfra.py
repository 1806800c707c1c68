"""Where the tests' Kafka and PostgreSQL come from: the choice, the override, the pinned images.

This machine has no Docker engine, so the containers themselves never start here: their wiring is
tested with stand-ins for testcontainers' classes."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest

from frontdesk.tools import testinfra
from frontdesk.tools.ports import free_port
from frontdesk.tools.stack import repo_root


def _never() -> bool:
    raise AssertionError("Docker was asked although the answer could not matter")


@pytest.mark.parametrize(
    ("env", "docker", "expected"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "DATABASE_URL": "postgresql://db/x"}, _never, "external"),
        ({"DATABASE_URL": "postgresql://db/x"}, _never, "external"),  # the broker runs locally
        ({}, lambda: True, "containers"),
        ({}, lambda: False, "local"),
        ({"KAFKA_BOOTSTRAP_SERVERS": ""}, lambda: False, "local"),  # empty is unset
        ({"FRONTDESK_TEST_INFRA": "local"}, _never, "local"),
        ({"FRONTDESK_TEST_INFRA": "LOCAL", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}, _never, "local"),
        ({"FRONTDESK_TEST_INFRA": "containers"}, lambda: True, "containers"),
        ({"FRONTDESK_TEST_INFRA": "external", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}, _never, "external"),
    ],
)
def test_the_order_external_then_containers_then_local(env: dict[str, str], docker: Any, expected: str) -> None:
    assert testinfra.choose(env, docker) == expected


@pytest.mark.parametrize(
    ("env", "docker", "message"),
    [
        ({"FRONTDESK_TEST_INFRA": "kubernetes"}, _never, "expected one of external, containers, local"),
        ({"FRONTDESK_TEST_INFRA": "containers"}, lambda: False, "no Docker engine answers"),
        ({"FRONTDESK_TEST_INFRA": "external"}, _never, "needs KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL"),
    ],
)
def test_an_override_that_cannot_be_honoured_is_an_error(env: dict[str, str], docker: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        testinfra.choose(env, docker)


def test_no_docker_engine_answers_here_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    # Our machines have no Docker engine: the probe says so without hanging, with or without DOCKER_HOST.
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    started = time.monotonic()
    if not os.path.exists("/var/run/docker.sock"):
        assert testinfra.docker_engine_answers() is False
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")  # nothing listens there
    assert testinfra.docker_engine_answers(timeout=2) is False
    assert time.monotonic() - started < 30


def test_servers_for_each_choice() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}
    with testinfra.servers("external", env) as servers:
        assert servers == testinfra.Servers("kafka:9092", None)  # PostgreSQL still starts locally
    with testinfra.servers("local", env) as servers:
        assert servers == testinfra.Servers()


def test_containers_are_kraft_kafka_and_postgres_from_pinned_images(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    class FakeContainer:
        def __init__(self, image: str, **kwargs: Any) -> None:
            self.image, self.kwargs = image, kwargs

        def with_kraft(self) -> FakeContainer:
            events.append(f"kraft {self.image}")
            return self

        def __enter__(self) -> FakeContainer:
            events.append(f"start {self.image}")
            return self

        def __exit__(self, *exc: object) -> None:
            events.append(f"stop {self.image}")

        def get_bootstrap_server(self) -> str:
            return "localhost:32768"

        def get_connection_url(self) -> str:
            assert self.kwargs["driver"] is None  # asyncpg wants a plain postgresql:// URL
            return "postgresql://postgres:postgres@localhost:32769/test"

    import testcontainers.community.kafka as kafka
    import testcontainers.community.postgres as postgres

    monkeypatch.setattr(kafka, "KafkaContainer", FakeContainer)
    monkeypatch.setattr(postgres, "PostgresContainer", FakeContainer)
    with testinfra.servers("containers", {}) as servers:
        assert servers == testinfra.Servers("localhost:32768", "postgresql://postgres:postgres@localhost:32769/test")
        assert events == [
            f"kraft {testinfra.KAFKA_IMAGE}",
            f"start {testinfra.KAFKA_IMAGE}",
            f"start {testinfra.POSTGRES_IMAGE}",
        ]
    assert events[-2:] == [f"stop {testinfra.POSTGRES_IMAGE}", f"stop {testinfra.KAFKA_IMAGE}"]


def test_images_are_pinned_to_the_local_servers_versions() -> None:
    for image in (testinfra.KAFKA_IMAGE, testinfra.POSTGRES_IMAGE):
        assert re.fullmatch(r"[a-z0-9./-]+:\d+\.\d+(\.\d+)?", image), f"{image} is not pinned to a version"
    pom = (repo_root() / "deploy" / "local" / "kafka" / "pom.xml").read_text()
    major, minor = re.search(r"<kafka.version>(\d+)\.(\d+)", pom).groups()  # type: ignore[union-attr]
    # Confluent Platform N.M ships Apache Kafka (N-4).M
    assert testinfra.KAFKA_IMAGE.split(":")[1].split(".")[:2] == [str(int(major) + 4), minor]


def test_fault_tests_keep_servers_of_their_own() -> None:
    # They SIGKILL / SIGSTOP the broker and database: local processes, never a shared or container stack.
    assert "own_servers=True" in (repo_root() / "tests" / "faults" / "conftest.py").read_text()
