"""Idempotency keys: of Kafka booking requests, and of HTTP commands (a `CommandStore`)."""

from __future__ import annotations

from typing import Any

from frontdesk.common.db import Connection

# --- idempotency keys of Kafka requests (the walking skeleton's table) ----------------------------


async def request_seen(conn: Connection, request_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM booking_requests WHERE request_id = $1", request_id))


async def remember_request(conn: Connection, request_id: str, outcome: str) -> None:
    await conn.execute("INSERT INTO booking_requests (request_id, outcome) VALUES ($1, $2)", request_id, outcome)


# --- idempotency keys of HTTP commands -----------------------------------------------------------


async def claim_command(conn: Connection, key: str, request_hash: str) -> tuple[int, Any] | str | None:
    """Claim `key` for this transaction. None: new, go ahead. (status, body): the answer it already
    got. "mismatch": the key was used for a different request. A concurrent twin waits on the row
    lock until the first commits, then sees its answer."""
    inserted = await conn.fetchval(
        "INSERT INTO command_results (idempotency_key, request_hash) VALUES ($1, $2)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1",
        key,
        request_hash,
    )
    if inserted:
        return None
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, body FROM command_results WHERE idempotency_key = $1", key
    )
    assert row is not None
    if row["request_hash"] != request_hash:
        return "mismatch"
    return int(row["status_code"]), row["body"]


async def save_command(conn: Connection, key: str, status_code: int, body: Any, *, durable: bool) -> None:
    """Store the answer. Not `durable`: the commit need not wait for the disk (SET LOCAL
    synchronous_commit, in the same statement)."""
    await conn.execute(_SAVE if durable else _SAVE_NOT_WAITING, key, status_code, body)


_SAVE = "UPDATE command_results SET status_code = $2, body = $3 WHERE idempotency_key = $1"
_SAVE_NOT_WAITING = f"WITH saved AS ({_SAVE}) SELECT set_config('synchronous_commit', 'off', true)"
