"""Each service's SQL functions have one home, its functions.sql, applied with CREATE OR REPLACE
after the migrations at every start (frontdesk.common.db): a fresh database gets exactly those
functions; one that lost or holds an older version of a function gets the file's at the next start,
without a migration."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from frontdesk.call_router.entrypoints.main import DEFINITION as CALL_ROUTER
from frontdesk.common.db import create_pool, ensure_database, functions_file, migrate
from frontdesk.common.service import ServiceDefinition
from frontdesk.scheduler.entrypoints.main import DEFINITION as SCHEDULER
from frontdesk.tools.stack import LocalStack

# Functions in public that no extension brought (btree_gist puts its own there).
OWN_FUNCTIONS = """
SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
"""


def declared(path: Path) -> set[str]:
    return set(re.findall(r"^CREATE OR REPLACE FUNCTION (\w+)\(", path.read_text(), re.M))


async def _fresh(stack: LocalStack) -> asyncpg.Pool:
    name = f"frontdesk_functions_{uuid.uuid4().hex[:8]}"
    await ensure_database(stack.server_database_url, name)
    return await create_pool(stack.database_url_named(name), size=2)


@pytest.mark.parametrize("definition", [SCHEDULER, CALL_ROUTER], ids=lambda d: d.name)
async def test_functions_come_from_the_functions_file_after_the_migrations_at_every_start(
    stack: LocalStack, definition: ServiceDefinition
) -> None:
    path = functions_file(definition.migrations)
    assert path is not None
    names = declared(path)
    assert names
    plumbing, pool = await _fresh(stack), await _fresh(stack)
    try:
        await migrate(plumbing, None)
        shared = {r["proname"] for r in await plumbing.fetch(OWN_FUNCTIONS)}
        assert await migrate(pool, definition.migrations)
        assert {r["proname"] for r in await pool.fetch(OWN_FUNCTIONS)} == shared | names
        victim = sorted(names)[0]
        await pool.execute(f"ALTER FUNCTION {victim} RENAME TO {victim}_stale")
        await pool.execute(f"DROP FUNCTION {victim}_stale")
        assert await migrate(pool, definition.migrations) == []  # no migration: the file alone
        assert {r["proname"] for r in await pool.fetch(OWN_FUNCTIONS)} == shared | names
    finally:
        await plumbing.close()
        await pool.close()
