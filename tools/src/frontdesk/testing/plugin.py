"""The test session's stack as a pytest plugin (pyproject.toml loads it with `-p frontdesk.testing.plugin`),
so that every integration test, in tests/ or beside the package it tests, gets the same fixtures.

One Kafka broker and one PostgreSQL server serve the whole session: taken from KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL, else started as containers when a Docker engine answers, else as local processes on free
loopback ports (frontdesk.tools.testinfra; FRONTDESK_TEST_INFRA overrides), and the four services run
as separate OS processes, exactly as `make up` runs them. Tests use their own clinic, patient and call ids, so they
never see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontdesk.common.contracts import ClinicConfig
from frontdesk.tools import testinfra
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

TEST_CLINICS = [
    ClinicConfig.model_validate(
        {
            "clinic_id": "test-always-open",
            "name": "Always Open Test Clinic",
            "timezone": "America/New_York",
            "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"front_desk_pool": "test-desk", "answering_service": "test-vendor"},
            "providers": [{"provider_id": f"dr-test-{n}"} for n in range(8)],
        }
    ),
    ClinicConfig.model_validate(
        {
            "clinic_id": "test-never-open",
            "name": "Never Open Test Clinic",
            "timezone": "Europe/London",
            "phone": {"front_desk_pool": "test-desk-2", "answering_service": "test-vendor-2"},
        }
    ),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every tests/integration folder (tests/ and each package's own) and tests/system need the stack.
    for item in items:
        if "tests/integration" in str(item.path) or "tests/system" in str(item.path):
            item.add_marker(pytest.mark.integration)
    # The personal-data scan reads everything the session produced, so it runs after the other tests;
    # the API fuzzer's random input is not part of what it scans, so that runs last.
    items.sort(key=lambda item: {"test_pii_scan.py": 1, "test_api_fuzz.py": 2}.get(item.path.name, 0))


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # Not under pytest's basetemp: pytest prunes old basetemp folders when another session starts,
    # which would pull the data folders from under a broker and database still in use.
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-test-stack-"))
    # An external stack, containers when Docker answers, else local processes (docs/testing.md).
    infra = testinfra.choose(os.environ, testinfra.docker_engine_answers)
    with testinfra.servers(infra, os.environ) as servers:
        local = LocalStack.ephemeral(state_dir)
        local.external_kafka, local.external_database = servers.kafka, servers.database
        try:
            local.start_infrastructure()
            yield local
        finally:
            local.stop()
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def services(stack: LocalStack) -> dict[str, ServiceProcess]:
    procs = {s.name: s for s in stack.start_services()}
    asyncio.run(publish(stack.bootstrap, TEST_CLINICS))
    wanted = {c.clinic_id for c in TEST_CLINICS}
    deadline = time.monotonic() + 60
    for proc in procs.values():
        while not wanted <= proc.known_clinics():
            assert time.monotonic() < deadline, f"{proc.name} never learned the test clinics"
            time.sleep(0.2)
    return procs


@pytest.fixture
def running(services: dict[str, ServiceProcess]) -> dict[str, ServiceProcess]:
    """The services, restarted first if an earlier test stopped or killed one."""
    for proc in services.values():
        if not proc.process.running():
            proc.start()
    return services


@pytest.fixture(scope="session")
def api_headers(stack: LocalStack) -> dict[str, str]:
    """Authorization for a network-wide client with read and write scope."""
    return {"Authorization": f"Bearer {stack.api_token(subject='test-client')}"}
