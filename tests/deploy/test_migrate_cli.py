"""The migrations entry point the Kubernetes init container runs, against the real PostgreSQL of the
test stack: it applies every migration once, and a second run (the next pod) applies nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from frontdesk.common.db import ensure_database
from frontdesk.tools.stack import LocalStack, run_sync

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def migrate(service: str, env_name: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, env_name: url}
    return subprocess.run(
        [sys.executable, "-m", "frontdesk.common.migrate_cli", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def applied(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")]
    finally:
        await conn.close()


def test_migrate_cli_applies_every_migration_once(stack: LocalStack) -> None:
    database = f"frontdesk_migrate_cli_{uuid.uuid4().hex[:8]}"
    run_sync(ensure_database(stack.server_database_url, database))
    url = stack.database_url_named(database)
    first = migrate("scheduler", "SCHEDULER_DATABASE_URL", url)
    assert first.returncode == 0, first.stderr
    names = run_sync(applied(url))
    common = sorted((REPO / "libs/common/src/frontdesk/common/migrations").glob("*.sql"))
    own = sorted((REPO / "services/scheduler/src/frontdesk/scheduler/migrations").glob("*.sql"))
    assert names == sorted([f"common/{p.name}" for p in common] + [f"service/{p.name}" for p in own])
    second = migrate("scheduler", "SCHEDULER_DATABASE_URL", url)
    assert second.returncode == 0, second.stderr
    assert run_sync(applied(url)) == names


def test_migrate_cli_rejects_an_unknown_service() -> None:
    result = migrate("no-such-service", "DATABASE_URL", "postgresql://127.0.0.1:1/none")
    assert result.returncode == 2 and "unknown service" in result.stderr
