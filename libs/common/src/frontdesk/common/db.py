"""PostgreSQL: the asyncpg pool and a plain SQL migrations runner.

Migrations are `NNN_name.sql` files applied in name order, each once, each in its own transaction.
The shared tables (outbox, inbox, timers, clinic directory) come first from this package; a service's
own files follow. An advisory lock makes concurrent replicas apply them one at a time.

A service's SQL functions (PL/pgSQL) are not migrations: they live in one file, `functions.sql` beside
its migrations directory, applied with CREATE OR REPLACE after the migrations at every start, so a
change to a function is a diff of that function. Migrations keep tables, indexes and data changes (and
the DROP of a function whose signature changes or that goes away: the file only creates and replaces).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .logging import get_logger

log = get_logger(__name__)
# A connection as handlers see it: a plain one, or one borrowed from the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
COMMON_MIGRATIONS = resources.files("frontdesk.common") / "migrations"
FUNCTIONS_FILE = "functions.sql"  # beside a service's migrations directory
_MIGRATION_LOCK = 7_311_001  # arbitrary constant: one advisory lock id for "migrations running"

# Errors that mean "the database is not reachable right now", as opposed to a bug or bad data.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    TimeoutError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


# Connections whose session was changed (by server process id): see `session_changed`.
_changed_sessions: set[int] = set()


def session_changed(conn: Connection) -> None:
    """Mark `conn`'s session as changed beyond one transaction (a SET without LOCAL, LISTEN, a session
    advisory lock): the pool resets it when it is released. Whoever changes a session says so here."""
    _changed_sessions.add(conn.get_server_pid())


async def _reset_if_changed(conn: asyncpg.Connection) -> None:
    """asyncpg resets every connection it takes back (advisory locks, cursors, LISTEN, settings): one
    more round trip per use, the biggest single cost of an HTTP request in the scheduler on two cores.
    Our statements leave nothing behind them but in the few places that mark their connection; only
    those are reset. (asyncpg itself still rolls back a transaction left open, before this runs.)"""
    pid = conn.get_server_pid()
    if pid in _changed_sessions:
        _changed_sessions.discard(pid)
        await conn.execute(conn.get_reset_query())


async def create_pool(dsn: str, size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_reset_if_changed,
        command_timeout=30,
        timeout=10,
    )
    assert pool is not None
    return pool


def _migration_files(directory: Any) -> list[tuple[str, str]]:
    files = [f for f in directory.iterdir() if f.name.endswith(".sql")]
    return [(f.name, f.read_text()) for f in sorted(files, key=lambda f: f.name)]


def _has_statements(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())


def functions_file(service_migrations: Path | None) -> Path | None:
    """The service's SQL functions file, if it has one."""
    if service_migrations is None:
        return None
    path = service_migrations.parent / FUNCTIONS_FILE
    return path if path.is_file() else None


async def migrate(pool: asyncpg.Pool, service_migrations: Path | None) -> list[str]:
    """Apply pending migrations (shared ones first), then the service's functions file (every time:
    it may reference any table the migrations made); return the names of the migrations applied now."""
    functions = functions_file(service_migrations)
    scripts = [("common/" + n, sql) for n, sql in _migration_files(COMMON_MIGRATIONS)]
    if service_migrations is not None:
        scripts += [("service/" + n, sql) for n, sql in _migration_files(service_migrations)]
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        session_changed(conn)
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for name, sql in scripts:
                if name in done:
                    continue
                async with conn.transaction():
                    if _has_statements(sql):  # a migration whose functions moved to functions.sql is comments only
                        await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied_now.append(name)
                log.info("migration applied", migration=name)
            if functions is not None:
                async with conn.transaction():
                    await conn.execute(functions.read_text())
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def ensure_database(server_dsn: str, database: str) -> bool:
    """Create `database` on the server if it is missing (local stack and tests). True if created."""
    conn = await asyncpg.connect(server_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{database}"')
        return True
    finally:
        await conn.close()
