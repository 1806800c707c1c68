"""The SQL of a rebuild: a shadow copy of the read model (schema console_rebuild), filled by the same
handlers, then swapped into the live tables in one transaction.

The read model is every `console_*` table of the public schema plus the clinic directory (`clinics`),
so a projection added later is rebuilt without being named here. `console_activity` is bookkeeping
of arrivals, not a fact of the events: the swap keeps when the last event really arrived and bumps
each clinic's version (its open pages re-render).
"""

from __future__ import annotations

from frontdesk.common.db import Connection, session_changed

SHADOW = "console_rebuild"
ACTIVITY = "console_activity"


async def read_model_tables(conn: Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_type = 'BASE TABLE' AND (table_name LIKE 'console\\_%' OR table_name = 'clinics')"
        " ORDER BY table_name"
    )
    return [r["table_name"] for r in rows]


async def create_shadow(conn: Connection, tables: list[str]) -> None:
    """An empty copy of each table (columns, defaults, keys, indexes) in the shadow schema."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
    await conn.execute(f"CREATE SCHEMA {SHADOW}")
    for table in tables:
        await conn.execute(f'CREATE TABLE {SHADOW}."{table}" (LIKE public."{table}" INCLUDING ALL)')


async def use_shadow(conn: Connection) -> None:
    """Unqualified table names on this connection now mean the shadow's (the handlers write there)."""
    session_changed(conn)  # reset on release, should use_live not come
    await conn.execute(f"SET search_path = {SHADOW}, public")


async def use_live(conn: Connection) -> None:
    await conn.execute("SET search_path = public")


async def swap(conn: Connection, tables: list[str]) -> None:
    """The live tables take the shadow's rows, all in one transaction: pages see the old model until
    the commit, then the rebuilt one. The shadow schema is dropped with it."""
    facts = await _parents_first(conn, [t for t in tables if t != ACTIVITY])
    async with conn.transaction():
        quoted = ", ".join(f'public."{t}"' for t in facts)
        await conn.execute(f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE")
        await conn.execute(f"TRUNCATE {quoted}")  # one statement: foreign keys among them allow it
        for table in facts:
            await conn.execute(f'INSERT INTO public."{table}" SELECT * FROM {SHADOW}."{table}"')
        if ACTIVITY in tables:
            await conn.execute(
                f"INSERT INTO public.{ACTIVITY} (clinic_id, version, last_event_at)"
                f" SELECT clinic_id, 1, last_event_at FROM {SHADOW}.{ACTIVITY}"
                f" ON CONFLICT (clinic_id) DO UPDATE SET version = public.{ACTIVITY}.version + 1"
            )
        await conn.execute(f"DROP SCHEMA {SHADOW} CASCADE")


async def _parents_first(conn: Connection, tables: list[str]) -> list[str]:
    """The tables ordered so that a table referenced by a foreign key is filled before its referrers."""
    rows = await conn.fetch(
        "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent FROM pg_constraint c"
        " WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
    )
    parents = {t: {r["parent"].strip('"') for r in rows if r["child"].strip('"') == t} for t in tables}
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and parents[t] <= {*ordered, t} | (parents[t] - set(tables))]
        if not ready:
            raise RuntimeError(f"the read model's foreign keys form a cycle: {sorted(set(tables) - set(ordered))}")
        ordered.extend(ready)
    return ordered


async def drop_shadow(conn: Connection) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE")
