"""The audit trail is append-only for the application's database role, for real, on the real PostgreSQL.

Provisioning (frontdesk.common.provision) gives the `audit` schema and table to the admin and the
application's role SELECT and INSERT only: every way to rewrite or erase the trail fails with
"insufficient privilege", while the service's own migrations still run as that role. A database
nobody provisioned still gets the table, and the start-up check says that it is not append-only.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from frontdesk.common.audit import INSERT
from frontdesk.common.db import create_pool, ensure_database, migrate
from frontdesk.common.provision import check_append_only, provision
from frontdesk.common.settings import database_name
from frontdesk.scheduler.entrypoints.main import DEFINITION as SCHEDULER
from frontdesk.tools.ports import free_port
from frontdesk.tools.stack import SERVICES, LocalStack, Postgres, _with_login

ROW = (
    "scheduler",
    "test",
    "read",
    "GET",
    "/v1/appointments/{appointment_id}",
    {"appointment_id": "a1"},
    "c1",
    200,
    None,
)

# Every way the application's role could rewrite, erase or silence the trail.
FORBIDDEN = [
    "UPDATE audit.log SET status = 500",
    "DELETE FROM audit.log",
    "TRUNCATE audit.log",
    "DROP TABLE audit.log",
    "DROP SCHEMA audit CASCADE",
    "ALTER TABLE audit.log DISABLE TRIGGER ALL",
    "ALTER TABLE audit.log DROP COLUMN subject",
    "ALTER TABLE audit.log OWNER TO CURRENT_USER",
    "ALTER SCHEMA audit RENAME TO old_audit",
    "CREATE TRIGGER swallow BEFORE INSERT ON audit.log"
    " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
    "CREATE RULE swallow AS ON INSERT TO audit.log DO INSTEAD NOTHING",
    "CREATE TABLE audit.shadow (id int)",
    "INSERT INTO audit.log (id, service, subject, action, method, route, status)"
    " OVERRIDING SYSTEM VALUE VALUES (1, 's', 's', 'read', 'GET', '/', 200)",
    "INSERT INTO audit.log (occurred_at, service, subject, action, method, route, status)"
    " VALUES ('2000-01-01', 's', 's', 'read', 'GET', '/', 200)",
    "SELECT setval(pg_get_serial_sequence('audit.log', 'id'), 1)",
    "ALTER ROLE CURRENT_USER SUPERUSER",
    "ALTER ROLE CURRENT_USER BYPASSRLS",
    # the hash chain (issue 16, item 8): its columns, head, trigger and functions
    "INSERT INTO audit.log (service, subject, action, method, route, status, chain_seq, prev_hash, row_hash)"
    " VALUES ('s', 's', 'read', 'GET', '/', 200, 1, '', '')",
    "UPDATE audit.chain_head SET seq = 0",
    "DELETE FROM audit.chain_head",
    "ALTER TABLE audit.log DISABLE TRIGGER chain",
    "DROP TRIGGER chain ON audit.log",
    "CREATE OR REPLACE FUNCTION audit.chain_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "ALTER FUNCTION audit.content(audit.log) OWNER TO CURRENT_USER",
]


@dataclass
class Login:
    role: str
    admin_url: str  # the admin, connected to the role's database
    app_url: str


def new_login(stack: LocalStack) -> Login:
    role = f"frontdesk_audit_{uuid.uuid4().hex[:8]}"
    admin = stack.database_url_named(role)
    return Login(role, admin, _with_login(admin, role, secrets.token_urlsafe(12)))


def rewrite(path: Path, change: Callable[[str], str]) -> str:
    """Replace a file's text with change(text); return the text it had."""
    text = path.read_text()
    path.write_text(change(text))
    return text


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
async def login(stack: LocalStack) -> AsyncIterator[Login]:
    login = new_login(stack)
    await provision(stack.server_database_url, login.app_url)
    yield login


@pytest.fixture
async def app(login: Login) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(login.app_url, size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def test_the_role_runs_its_migrations_and_only_reads_and_inserts_the_trail(
    login: Login, app: asyncpg.Pool
) -> None:
    # The service's own migrations (btree_gist, functions, tables) as the role, shared ones first.
    applied = await migrate(app, SCHEDULER.migrations)
    assert "common/002_audit.sql" in applied and any(n.startswith("service/") for n in applied)
    assert (
        await app.fetchval("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        is False
    )
    assert await app.fetchval("SELECT current_user") == login.role

    await app.execute(INSERT, *ROW)  # the middleware's own statement
    [row] = await app.fetch("SELECT * FROM audit.log")
    assert row["subject"] == "test" and row["resource"] == {"appointment_id": "a1"} and row["id"] >= 1
    assert row["occurred_at"] is not None

    for statement in FORBIDDEN:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(statement)
    # Granting itself more is a no-op (PostgreSQL warns "no privileges were granted"), not a way in.
    await app.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON audit.log TO {login.role}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute("DELETE FROM audit.log")
    assert await app.fetchval("SELECT count(*) FROM audit.log") == 1
    assert await check_append_only(app, "scheduler") is True


async def test_the_role_cannot_drop_its_database_nor_enter_another(stack: LocalStack, login: Login) -> None:
    conn = await asyncpg.connect(login.app_url.rsplit("/", 1)[0] + "/postgres")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'DROP DATABASE "{login.role}"')
    finally:
        await conn.close()
    other = new_login(stack)
    await provision(stack.server_database_url, other.app_url)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await fetch(login.app_url.rsplit("/", 1)[0] + "/" + other.role, "SELECT 1")


@pytest.fixture
def own_server() -> Iterator[Postgres]:
    """A PostgreSQL server of the test's own (even when DATABASE_URL names another): the test rewrites
    its pg_hba.conf, which it may do to no one else's."""
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-test-hba-"))
    server = Postgres(state_dir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


async def test_the_role_logs_in_with_its_password_and_no_other(own_server: Postgres) -> None:
    """The local server trusts loopback; for this role it asks for the password (SCRAM), as a real one does."""
    role = f"frontdesk_audit_{uuid.uuid4().hex[:8]}"
    admin_url = own_server.url(role)
    login = Login(role, admin_url, _with_login(admin_url, role, secrets.token_urlsafe(12)))
    await provision(own_server.server_url, login.app_url)
    [[hba_file]] = await fetch(login.admin_url, "SHOW hba_file")
    rewrite(Path(hba_file), lambda text: f"host all {login.role} 127.0.0.1/32 scram-sha-256\n{text}")
    wrong = _with_login(login.app_url, login.role, "not-the-password")
    await fetch(login.admin_url, "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while True:  # the server applies the reload in its own time
        try:
            await fetch(wrong, "SELECT 1")
        except asyncpg.InvalidPasswordError:
            break
        assert time.monotonic() < deadline, "pg_hba.conf reload not applied"
        await asyncio.sleep(0.2)
    assert (await fetch(login.app_url, "SELECT current_user"))[0][0] == login.role
    await provision(own_server.server_url, login.app_url)  # again: the same password still works
    assert (await fetch(login.app_url, "SELECT current_user"))[0][0] == login.role


async def test_provisioning_twice_changes_nothing(stack: LocalStack, login: Login, app: asyncpg.Pool) -> None:
    await migrate(app, SCHEDULER.migrations)
    await app.execute(INSERT, *ROW)
    snapshot = """
        SELECT (SELECT row(rolsuper, rolcreatedb, rolcreaterole, rolcanlogin)::text
                  FROM pg_roles WHERE rolname = $1) AS role,
               (SELECT row(pg_get_userbyid(datdba), datacl)::text
                  FROM pg_database WHERE datname = current_database()) AS db,
               (SELECT array_agg(row(nspname, pg_get_userbyid(nspowner), nspacl)::text ORDER BY nspname)
                  FROM pg_namespace WHERE nspname IN ('public', 'audit')) AS schemas,
               (SELECT array_agg(row(c.oid::regclass, pg_get_userbyid(relowner), relacl)::text ORDER BY c.oid)
                  FROM pg_class c WHERE relnamespace IN ('public'::regnamespace, 'audit'::regnamespace)) AS relations,
               (SELECT array_agg(row(attname, attacl)::text ORDER BY attnum)
                  FROM pg_attribute WHERE attrelid = 'audit.log'::regclass AND attnum > 0) AS columns,
               (SELECT count(*) FROM audit.log) AS rows
    """
    before = await fetch(login.admin_url, snapshot, login.role)
    await provision(stack.server_database_url, login.app_url)
    assert await fetch(login.admin_url, snapshot, login.role) == before
    assert await app.fetchval("SELECT count(*) FROM audit.log") == 1  # and the role still logs in


async def test_provisioning_again_runs_none_of_the_role_s_functions(
    stack: LocalStack, login: Login, app: asyncpg.Pool
) -> None:
    """The role owns `public`: a closer match for a built-in there must not run with the admin's rights."""
    await app.execute(
        "CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql"
        f" AS $$ SELECT 'ALTER ROLE {login.role} SUPERUSER' $$"
    )
    await provision(stack.server_database_url, login.app_url)
    assert await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False


async def test_an_unprovisioned_database_gets_the_table_and_a_warning(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"frontdesk_unprovisioned_{uuid.uuid4().hex[:8]}"
    await ensure_database(stack.server_database_url, database)
    warnings: list[str] = []
    monkeypatch.setattr("frontdesk.common.provision.log.warning", lambda event, **_: warnings.append(event))
    pool = await create_pool(stack.database_url_named(database), size=2)  # the superuser, as before
    try:
        await migrate(pool, None)
        await pool.execute(INSERT, *ROW)
        assert await check_append_only(pool, "unprovisioned-check") is False
    finally:
        await pool.close()
    assert warnings == ["audit trail is not append-only for this role"]
    assert REGISTRY.get_sample_value("frontdesk_audit_append_only", {"service": "unprovisioned-check"}) == 0


async def test_provisioning_adopts_a_database_an_older_stack_made_as_the_admin(stack: LocalStack) -> None:
    login = new_login(stack)
    await ensure_database(stack.server_database_url, login.role)
    admin = await create_pool(login.admin_url, size=2)
    try:
        await migrate(admin, SCHEDULER.migrations)  # everything owned by the admin, audit table too
        await admin.execute(INSERT, *ROW)
    finally:
        await admin.close()
    await provision(stack.server_database_url, login.app_url)
    pool = await create_pool(login.app_url, size=2)
    try:
        assert await migrate(pool, SCHEDULER.migrations) == []
        await pool.execute("INSERT INTO timers (timer_key, kind, due_at) VALUES ('t1', 'k', now())")
        await pool.execute("DELETE FROM timers WHERE timer_key = 't1'")
        await pool.execute("ALTER TABLE outbox ADD COLUMN adopted boolean")  # a later migration would
        await pool.execute(INSERT, *ROW)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute("DELETE FROM audit.log")
        assert await check_append_only(pool, "adopted-check") is True
    finally:
        await pool.close()


async def test_issue16_item8_provisioning_takes_the_chain_s_functions_from_the_role(
    stack: LocalStack, login: Login, app: asyncpg.Pool
) -> None:
    """A trail the role made itself (it owned the database before): it could replace the chain's
    functions, so the start-up check says so, and provisioning hands them to the admin."""
    await migrate(app, SCHEDULER.migrations)
    assert await check_append_only(app, "chain-owner-check") is True
    admin = await asyncpg.connect(login.admin_url)
    try:
        await admin.execute(f"ALTER FUNCTION audit.chain_row() OWNER TO {login.role}")
        assert await check_append_only(app, "chain-owner-check") is False
        await admin.execute("ALTER TABLE audit.log DISABLE TRIGGER chain")
        assert await check_append_only(app, "chain-owner-check") is False
        await provision(stack.server_database_url, login.app_url)  # the admin's again, and switched on
    finally:
        await admin.close()
    assert await check_append_only(app, "chain-owner-check") is True


async def test_an_admin_that_is_not_a_superuser_can_provision(stack: LocalStack) -> None:
    """As on a managed cloud database, whose admin has CREATEROLE and CREATEDB only."""
    admin_role = f"cloud_admin_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.server_database_url)
    try:
        await conn.execute(f"CREATE ROLE {admin_role} LOGIN CREATEROLE CREATEDB")
    finally:
        await conn.close()
    admin_url = _with_login(stack.server_database_url, admin_role, "unused-with-trust-auth")
    login = new_login(stack)
    await provision(admin_url, login.app_url)
    await provision(admin_url, login.app_url)
    pool = await create_pool(login.app_url, size=2)
    try:
        await migrate(pool, SCHEDULER.migrations)
        await pool.execute(INSERT, *ROW)
        for statement in ("DELETE FROM audit.log", "TRUNCATE audit.log", "DROP TABLE audit.log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await pool.execute(statement)
        assert await check_append_only(pool, "cloud-check") is True
    finally:
        await pool.close()


async def test_the_stack_connects_each_service_as_its_own_role(stack: LocalStack) -> None:
    for service in SERVICES:
        role = database_name(service)
        [row] = await fetch(
            stack.database_url(service),
            "SELECT current_user AS who, rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        assert (row["who"], row["rolsuper"]) == (role, False)
        [owner] = await fetch(
            stack.admin_database_url(service),
            "SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'audit.log'::regclass",
        )
        assert owner["o"] != role
