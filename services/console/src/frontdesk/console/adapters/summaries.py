"""SQL of the summaries the projector keeps: the calls per clinic and local hour (console_call_hours),
each clinic's open worklist items (console_open_items), and the clinic settings they are counted with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import asyncpg

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.db import Connection

from ..domain.board import COUNT_COLUMNS, CallCounts
from ..domain.summary import HourCounts, HourKey

_COLUMNS = ", ".join(COUNT_COLUMNS)
_TYPES = ["int", "int", "int", "bigint", "int", "int", "int"]
assert len(_TYPES) == len(COUNT_COLUMNS)
_UNNEST = ", ".join(f"${n + 4}::{t}[]" for n, t in enumerate(_TYPES))
_ADD = ", ".join(f"{c} = console_call_hours.{c} + EXCLUDED.{c}" for c in COUNT_COLUMNS)


_CONFIGS: dict[str, tuple[str, ClinicConfig]] = {}  # clinic id -> (digest of its configuration, parsed)


async def clinic_configs(conn: Connection, clinic_ids: list[str] | None) -> dict[str, ClinicConfig]:
    """The clinics' configurations (all when None), parsed once per version, not per page or batch:
    the digests are read each time, a configuration only when its digest is new."""
    rows = await conn.fetch(
        "SELECT clinic_id, md5(config::text) AS digest FROM clinics WHERE $1::text[] IS NULL OR clinic_id = ANY($1)"
        " ORDER BY clinic_id",
        clinic_ids,
    )
    stale = [r["clinic_id"] for r in rows if _CONFIGS.get(r["clinic_id"], ("",))[0] != r["digest"]]
    if stale:
        for r in await conn.fetch(
            "SELECT clinic_id, md5(config::text) AS digest, config::text AS config FROM clinics"
            " WHERE clinic_id = ANY($1::text[])",
            stale,
        ):
            _CONFIGS[r["clinic_id"]] = (r["digest"], ClinicConfig.model_validate(json.loads(r["config"])))
    return {r["clinic_id"]: _CONFIGS[r["clinic_id"]][1] for r in rows if r["clinic_id"] in _CONFIGS}


async def add(conn: Connection, changes: Mapping[tuple[str, date, int], CallCounts]) -> None:
    """Add each change to its hour's row, in key order (writers taking the same rows never wait on
    each other in a cycle)."""
    if not changes:
        return
    keys = sorted(changes)
    await conn.execute(
        f"INSERT INTO console_call_hours (clinic_id, local_date, local_hour, {_COLUMNS})"
        f" SELECT * FROM unnest($1::text[], $2::date[], $3::smallint[], {_UNNEST})"
        f" ON CONFLICT (clinic_id, local_date, local_hour) DO UPDATE SET {_ADD}",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        *([getattr(changes[k], c) for k in keys] for c in COUNT_COLUMNS),
    )


async def replace(conn: Connection, clinic_id: str, hours: list[HourCounts]) -> None:
    """The clinic's hours, counted again from its calls (its zone or ring budget may have moved)."""
    await conn.execute("DELETE FROM console_call_hours WHERE clinic_id = $1", clinic_id)
    await add(conn, {(clinic_id, h.local_date, h.local_hour): h.counts for h in hours})


def _hour(row: asyncpg.Record) -> HourCounts:
    counts = CallCounts(*(row[c] for c in COUNT_COLUMNS))
    return HourCounts(row["local_date"], row["local_hour"], counts)


async def days(conn: Connection, day_of: Mapping[str, date]) -> dict[str, list[HourCounts]]:
    """Each clinic's hours of one local date (its today)."""
    clinics = sorted(day_of)
    rows = await conn.fetch(
        f"SELECT h.clinic_id, local_date, local_hour, {_COLUMNS} FROM console_call_hours h"
        " JOIN unnest($1::text[], $2::date[]) AS d(clinic_id, day)"
        " ON h.clinic_id = d.clinic_id AND h.local_date = d.day",
        clinics,
        [day_of[c] for c in clinics],
    )
    hours: dict[str, list[HourCounts]] = {c: [] for c in clinics}
    for r in rows:
        hours[r["clinic_id"]].append(_hour(r))
    return hours


async def hours_after(conn: Connection, clinic_id: str, first: HourKey) -> list[HourCounts]:
    """The clinic's hours after local (date, hour) `first`."""
    rows = await conn.fetch(
        f"SELECT local_date, local_hour, {_COLUMNS} FROM console_call_hours"
        " WHERE clinic_id = $1 AND (local_date, local_hour) > ($2::date, $3::smallint) ORDER BY local_date, local_hour",
        clinic_id,
        first[0],
        first[1],
    )
    return [_hour(r) for r in rows]


# What makes a worklist item open (the Network's "open items"): a callback asked for and not done, a
# recovery task opened and not closed. The same conditions count them at first (migrations/007).
_OPEN_CALLBACK = "requested_at IS NOT NULL AND completed_at IS NULL"
_OPEN_TASK = "due_at IS NOT NULL AND closed_at IS NULL"


async def open_items_among(
    conn: Connection, callback_ids: list[str], task_ids: list[str]
) -> dict[str, tuple[int, int]]:
    """Per clinic: how many of these callbacks and recovery tasks are open now."""
    rows = await conn.fetch(
        "SELECT clinic_id, count(*) FILTER (WHERE kind = 'c') AS callbacks,"
        " count(*) FILTER (WHERE kind = 't') AS tasks FROM (SELECT clinic_id, 'c' AS kind FROM console_callbacks"
        f" WHERE callback_id = ANY($1::text[]) AND {_OPEN_CALLBACK}"
        " UNION ALL SELECT clinic_id, 't' FROM console_recovery_tasks"
        f" WHERE recovery_task_id = ANY($2::text[]) AND {_OPEN_TASK}) AS items GROUP BY clinic_id",
        callback_ids,
        task_ids,
    )
    return {r["clinic_id"]: (r["callbacks"], r["tasks"]) for r in rows}


async def add_open_items(conn: Connection, changes: Mapping[str, tuple[int, int]]) -> None:
    """Add each clinic's change (a row for every clinic named, even unchanged: rebuilt == live), in clinic order."""
    clinics = sorted(changes)
    await conn.execute(
        "INSERT INTO console_open_items (clinic_id, callbacks, recovery_tasks)"
        " SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) ON CONFLICT (clinic_id) DO UPDATE SET"
        " callbacks = console_open_items.callbacks + EXCLUDED.callbacks,"
        " recovery_tasks = console_open_items.recovery_tasks + EXCLUDED.recovery_tasks",
        clinics,
        [changes[c][0] for c in clinics],
        [changes[c][1] for c in clinics],
    )


async def count_open_items_again(conn: Connection, clinic_id: str) -> None:
    await conn.execute(
        "INSERT INTO console_open_items (clinic_id, callbacks, recovery_tasks) SELECT $1::text,"
        f" (SELECT count(*) FROM console_callbacks WHERE clinic_id = $1 AND {_OPEN_CALLBACK}),"
        f" (SELECT count(*) FROM console_recovery_tasks WHERE clinic_id = $1 AND {_OPEN_TASK})"
        " ON CONFLICT (clinic_id) DO UPDATE SET callbacks = EXCLUDED.callbacks,"
        " recovery_tasks = EXCLUDED.recovery_tasks",
        clinic_id,
    )


async def open_items(conn: Connection, clinic_ids: list[str] | None) -> dict[str, int]:
    """Per clinic: open callbacks + open recovery tasks (the Network table's "open worklist items")."""
    rows = await conn.fetch(
        "SELECT clinic_id, callbacks + recovery_tasks AS n FROM console_open_items"
        " WHERE $1::text[] IS NULL OR clinic_id = ANY($1)",
        clinic_ids,
    )
    return {r["clinic_id"]: r["n"] for r in rows}
