"""The fault tests' own stack: a broker, a database and the four services that these tests may kill,
pause and restart without disturbing any other test module (they never use frontdesk.testing.plugin's stack).
The cluster fault tests (test_cluster*.py) have a stack of their own on a three-broker cluster,
started for their module only.

Reviews signs feedback links for an https base URL here, so that followup delivers review requests
(on the plain local stack the links are loopback http, which followup refuses as template_invalid).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontdesk.tools.stack import SERVICES, LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="package")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # Its own broker and database always: these tests kill and freeze them.
    local = LocalStack.ephemeral(Path(tmp_path_factory.mktemp("faults")), own_servers=True)
    local.extra_env = {"REVIEWS_PUBLIC_BASE_URL": "https://feedback.frontdesk.test"}
    try:
        local.start_infrastructure()
        local.start_services()
        yield local
    finally:
        local.stop()


@pytest.fixture
def healthy(fault_stack: LocalStack) -> LocalStack:
    """The fault stack as it should be at the start of a test: everything up, one instance each."""
    if not fault_stack.kafka.process.running():
        fault_stack.kafka.start()
    if not fault_stack.postgres.process.running():
        fault_stack.postgres.start()
    for name in SERVICES:
        for extra in fault_stack.replicas(name)[1:]:
            extra.stop()
        proc = fault_stack.service(name)
        if not proc.process.running():
            proc.start(wait=False)
    for name in SERVICES:
        fault_stack.service(name).wait_ready(timeout=120)
    return fault_stack


@pytest.fixture(scope="module")
def cluster_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack on a three-broker cluster replicated as production (frontdesk.tools.cluster)."""
    local = LocalStack.ephemeral(Path(tmp_path_factory.mktemp("cluster")), own_servers=True, brokers=3)
    local.extra_env = {"REVIEWS_PUBLIC_BASE_URL": "https://feedback.frontdesk.test"}
    try:
        local.start_infrastructure()
        local.start_services()
        yield local
    finally:
        local.stop()


@pytest.fixture
def cluster_healthy(cluster_stack: LocalStack) -> LocalStack:
    """Every broker running (resumed if frozen), every service up and ready."""
    assert cluster_stack.cluster is not None
    for node in cluster_stack.cluster.nodes:
        if (pid := node.process.pid()) is not None:
            os.kill(pid, signal.SIGCONT)
    cluster_stack.cluster.start()
    for name in SERVICES:
        proc = cluster_stack.service(name)
        if not proc.process.running():
            proc.start(wait=False)
    for name in SERVICES:
        cluster_stack.service(name).wait_ready(timeout=120)
    return cluster_stack
