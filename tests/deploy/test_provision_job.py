"""The provisioning Jobs (issue 16, item 8): one per service, generated with the other manifests and
validated with them (test_k8s.py validates every rendered core resource); here what they must be: the
only pods that read the admin's URL, out of the Services' and PDBs' selectors, locked down, allowed
to reach PostgreSQL and nothing else, and, run as written against the real PostgreSQL, they leave a
database whose `migrate` init container and service run as a role that can only append to the trail."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
import pytest

from frontdesk.common.provision import check_append_only
from frontdesk.tools.stack import LocalStack, _with_login, run_sync

from .test_k8s import ALL_RENDERINGS, SERVICES, Docs, by_kind

ADMIN_SECRET = "frontdesk-db-admin"


def jobs(docs: Docs) -> dict[str, dict[str, Any]]:
    return by_kind(docs, "Job")


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_issue16_item8_each_service_has_a_provisioning_job(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    found = jobs(docs)
    assert set(found) == {f"{s}-provision" for s in SERVICES}
    deployments = by_kind(docs, "Deployment")
    for service in SERVICES:
        job = found[f"{service}-provision"]
        pod = job["spec"]["template"]["spec"]
        [container] = pod["containers"]
        app = next(c for c in deployments[service]["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
        assert container["command"] == ["python", "-m", "frontdesk.common.provision", service]
        assert container["image"] == app["image"]  # the overlay's tag applies to both
        env = env_of(container)
        db_env = service.replace("-", "_").upper() + "_DATABASE_URL"
        assert env[db_env]["valueFrom"]["secretKeyRef"] == {"name": f"{service}-db", "key": "uri"}
        assert env["DATABASE_ADMIN_URL"]["valueFrom"]["secretKeyRef"] == {"name": ADMIN_SECRET, "key": "uri"}
        assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["ttlSecondsAfterFinished"] > 0  # gone after a while: the next apply runs it again
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_issue16_item8_only_the_provisioning_jobs_read_the_admin_url(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    for deployment in by_kind(docs, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert "DATABASE_ADMIN_URL" not in env_of(container)
            assert ADMIN_SECRET not in str(container)
        assert ADMIN_SECRET not in str(pod.get("volumes", []))
    labels = {j["metadata"]["name"]: j["spec"]["template"]["metadata"]["labels"] for j in jobs(docs).values()}
    for kind in ("Service", "PodDisruptionBudget"):
        for resource in by_kind(docs, kind).values():
            spec = resource["spec"]
            selector = spec.get("selector", {})
            selector = selector.get("matchLabels", selector)
            for job, pod_labels in labels.items():
                assert not selector.items() <= pod_labels.items(), (
                    f"{kind}/{resource['metadata']['name']} selects {job}"
                )


def test_issue16_item8_provisioning_pods_reach_postgres_only(rendered: dict[str, Docs]) -> None:
    policies = by_kind(rendered["prod"], "NetworkPolicy")
    selecting = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/component": "provision"}
    ]
    assert len(selecting) == 1, sorted(policies)
    [policy] = selecting
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"] and not policy["spec"].get("ingress")
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 5432]


@pytest.mark.integration
def test_issue16_item8_the_job_as_written_provisions_a_database(rendered: dict[str, Docs], stack: LocalStack) -> None:
    """The Job's command and environment, then the Deployment's `migrate` init container's, as rendered."""
    service = "scheduler"
    job = jobs(rendered["prod"])[f"{service}-provision"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    role = f"frontdesk_job_{uuid.uuid4().hex[:8]}"
    app_url = _with_login(stack.database_url_named(role), role, uuid.uuid4().hex)
    secrets = {(f"{service}-db", "uri"): app_url, (ADMIN_SECRET, "uri"): stack.server_database_url}

    def run(command: list[str], env_list: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
        for item in env_list:
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            env[item["name"]] = secrets[(ref["name"], ref["key"])] if ref else item["value"]
        assert command[0] == "python"
        return subprocess.run(
            [sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    result = run(container["command"], container["env"])
    assert result.returncode == 0, result.stderr
    pod = by_kind(rendered["prod"], "Deployment")[service]["spec"]["template"]["spec"]
    [migrate] = pod["initContainers"]
    result = run(migrate["command"], migrate["env"])
    assert result.returncode == 0, result.stderr

    async def append_only() -> bool:
        conn = await asyncpg.connect(app_url)
        try:
            return await check_append_only(conn, "job-check")
        finally:
            await conn.close()

    assert run_sync(append_only()) is True
