"""Least-privilege database roles and an audit trail the application cannot rewrite.

`provision` is the admin step, run before a service starts (by the local stack, or by hand / a Job in
production: `python -m frontdesk.common.provision <service>`). It makes the service's database URL a
working login that can do everything the service needs and nothing that could erase its own traces:

- the URL's role: LOGIN, no superuser, no CREATEDB / CREATEROLE / REPLICATION / BYPASSRLS;
- the URL's database, owned by the admin (its owner could DROP it, audit trail included); the role may
  CONNECT, CREATE (schemas, trusted extensions such as btree_gist) and use TEMPORARY tables, and owns
  the `public` schema and everything in it, so its own migrations keep working; nobody else connects;
- schema `audit` and table `audit.log`, owned by the admin: the role may read them and insert rows
  (the server fills `id` and `occurred_at`), never update, delete, truncate, alter, drop or trigger;
  the hash chain's trigger, functions and head table (`audit.chain_head`, read only) are the admin's too.

Run it again at any time: it changes nothing that is already right (it resets the password).
`check_append_only` is the service's start-up check that it runs as such a role.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import sys
from importlib import resources
from urllib.parse import unquote, urlsplit

import asyncpg
from prometheus_client import Gauge

from .logging import configure_logging, get_logger
from .settings import ServiceSettings

log = get_logger(__name__)
# The trail and its hash chain, made by the admin so that the admin owns them (the same migrations).
AUDIT_TABLE_DDL = [
    (resources.files("frontdesk.common") / "migrations" / name).read_text()
    for name in ("002_audit.sql", "004_audit_chain.sql")
]
# What the application may write: everything but the row's identity and time, which the server sets.
AUDIT_INSERT_COLUMNS = "service, subject, action, method, route, resource, clinic_id, status, trace_id"
AUDIT_APPEND_ONLY = Gauge(
    "frontdesk_audit_append_only",
    "1 when the service's database role can only read and insert its audit trail, 0 when it could rewrite it.",
    ["service"],
)

# The role owns `public` in its database: a function it put there (say a closer match for format())
# must not run as the admin, so the admin's sessions resolve names in pg_catalog only.
ADMIN_SETTINGS = {"search_path": "pg_catalog"}
# Objects of the `public` schema the application's role does not own yet: tables made by an older
# stack as the admin. Sequences and indexes of a table follow it; extension members stay put.
_NOT_OWNED = """
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
              c.oid::regclass, $1::text)
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND pg_get_userbyid(c.relowner)::text <> $1::text
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner)::text <> $1::text
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
"""


def _scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores (RFC 5803 format), so the password itself never
    reaches the server's statement log. ASCII passwords only: those need no SASLprep."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def login_of(url: str) -> tuple[str, str, str]:
    """(role, password, database) of a postgresql:// URL."""
    parts = urlsplit(url)
    role, password = unquote(parts.username or ""), unquote(parts.password or "")
    database = unquote(parts.path.lstrip("/"))
    if not (role and password and database):
        raise ValueError("the application's database URL must name its role, password and database")
    return role, password, database


async def _statement(conn: asyncpg.Connection, template: str, *args: str) -> None:
    """Run a utility statement whose names and literals (format's %I and %L) are quoted by the server."""
    placeholders = "".join(f", ${i + 2}::text" for i in range(len(args)))
    await conn.execute(await conn.fetchval(f"SELECT format($1{placeholders})", template, *args))


async def _ensure_role(conn: asyncpg.Connection, role: str, password: str) -> None:
    secret = _scram_verifier(password) if password.isascii() and password.isprintable() else password
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        try:
            await _statement(
                conn,
                "CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L",
                role,
                secret,
            )
            return
        except asyncpg.DuplicateObjectError:  # another provisioning run got there first
            pass
    await _statement(conn, "ALTER ROLE %I LOGIN PASSWORD %L", role, secret)
    powerful = await conn.fetchval(
        "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls"
        " FROM pg_roles WHERE rolname = $1",
        role,
    )
    if powerful:
        await _statement(conn, "ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS", role)


async def _join_role(conn: asyncpg.Connection, role: str) -> None:
    """A non-superuser admin (a cloud database's admin) must be a member of the role to give it objects."""
    if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await _statement(conn, "GRANT %I TO CURRENT_USER", role)


async def _ensure_database(conn: asyncpg.Connection, database: str, role: str) -> None:
    owner = await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database)
    if owner is None:
        with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another run got there first
            await _statement(conn, "CREATE DATABASE %I", database)
    elif owner == role:
        await _statement(conn, "ALTER DATABASE %I OWNER TO CURRENT_USER", database)
    await _statement(conn, "REVOKE ALL ON DATABASE %I FROM PUBLIC", database)
    await _statement(conn, "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO %I", database, role)


async def _hand_over_schemas(conn: asyncpg.Connection, role: str) -> None:
    """In the service's database: `public` (and what is in it) to the role, `audit` to the admin."""
    await _statement(conn, "ALTER SCHEMA public OWNER TO %I", role)
    for (statement,) in await conn.fetch(_NOT_OWNED, role):
        await conn.execute(statement)
    for ddl in AUDIT_TABLE_DDL:
        await conn.execute(ddl)
    await conn.execute("ALTER SCHEMA audit OWNER TO CURRENT_USER")
    for table in ("audit.log", "audit.chain_head"):
        await conn.execute(f"ALTER TABLE {table} OWNER TO CURRENT_USER")
        await _statement(conn, f"REVOKE ALL ON TABLE {table} FROM PUBLIC, %I", role)
        await _statement(conn, f"GRANT SELECT ON TABLE {table} TO %I", role)
    # A function the role owned (it made the trail itself before) it could replace with one that forges.
    for function in ("audit.content(audit.log)", "audit.chain_row()"):
        await conn.execute(f"ALTER FUNCTION {function} OWNER TO CURRENT_USER")
    await conn.execute("ALTER TABLE audit.log ENABLE TRIGGER chain")  # rows added while it was off stay unchained
    await _statement(conn, "REVOKE ALL ON SCHEMA audit FROM PUBLIC, %I", role)
    await _statement(conn, "GRANT USAGE ON SCHEMA audit TO %I", role)
    await _statement(conn, f"GRANT INSERT ({AUDIT_INSERT_COLUMNS}) ON TABLE audit.log TO %I", role)


async def provision(admin_url: str, app_url: str) -> None:
    """Make `app_url` (role, password, database) a least-privilege login with an append-only audit
    trail, as the admin of `admin_url`: a superuser, or a role with CREATEROLE and CREATEDB (which
    then becomes a member of the application's role, as PostgreSQL requires to give it objects)."""
    role, password, database = login_of(app_url)
    conn = await asyncpg.connect(admin_url, server_settings=ADMIN_SETTINGS)
    try:
        if role == await conn.fetchval("SELECT current_user"):
            raise ValueError("the application's database role must not be the admin")
        await _ensure_role(conn, role, password)
        await _join_role(conn, role)
        await _ensure_database(conn, database, role)
    finally:
        await conn.close()
    conn = await asyncpg.connect(admin_url, database=database, server_settings=ADMIN_SETTINGS)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7311002)")  # concurrent runs take turns
            await _hand_over_schemas(conn, role)
    finally:
        await conn.close()
    log.info("database provisioned", role=role, database=database)


# Whether the connection's role could rewrite the trail: as a superuser, as a member of the role owning
# the table, its schema, the database or the chain's functions (it could replace them), through a
# privilege beyond SELECT/INSERT, or because the chain's trigger is missing or switched off.
_CAN_REWRITE = """
SELECT coalesce(bool_or(
           r.rolsuper OR pg_has_role(c.relowner, 'MEMBER') OR pg_has_role(n.nspowner, 'MEMBER')
           OR pg_has_role(d.datdba, 'MEMBER')
           OR has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE, TRIGGER')), true)
       OR EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = 'audit'::regnamespace
                  AND pg_has_role(p.proowner, 'MEMBER'))
       OR NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = 'audit.log'::regclass
                      AND t.tgname = 'chain' AND t.tgenabled IN ('O', 'A'))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'audit'
JOIN pg_roles r ON r.rolname = current_user
JOIN pg_database d ON d.datname = current_database()
WHERE c.relname IN ('log', 'chain_head')
"""


async def check_append_only(conn: asyncpg.Connection | asyncpg.Pool, service: str) -> bool:
    """Whether this connection's role can only read and insert audit.log (and only through its hash
    chain's trigger). Sets the frontdesk_audit_append_only gauge and warns when it is not."""
    can_rewrite = await conn.fetchval(_CAN_REWRITE)
    AUDIT_APPEND_ONLY.labels(service=service).set(0 if can_rewrite else 1)
    if can_rewrite:
        log.warning(
            "audit trail is not append-only for this role",
            hint="provision the database: python -m frontdesk.common.provision " + service,
        )
    return not can_rewrite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Create or repair a service's database role, database and append-only audit trail. "
        "DATABASE_ADMIN_URL: the admin's URL; the service's own URL (<SERVICE>_DATABASE_URL, else "
        "DATABASE_URL) names the role, its password and the database."
    )
    parser.add_argument("service", help="the service name, e.g. scheduler or call-router")
    args = parser.parse_args(argv)
    settings = ServiceSettings.for_service(args.service)
    configure_logging(args.service, settings.log_level, settings.log_json)
    admin_url = os.environ.get("DATABASE_ADMIN_URL")
    if not admin_url:
        print("DATABASE_ADMIN_URL is not set", file=sys.stderr)
        return 2
    try:
        asyncio.run(provision(admin_url, settings.database_url))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
