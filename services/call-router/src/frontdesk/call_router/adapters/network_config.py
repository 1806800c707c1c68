"""The network document (`network_config`): the latest `network.configured`, with its event id as
its version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontdesk.common.contracts import NetworkConfigured
from frontdesk.common.db import Connection
from frontdesk.common.rows import from_row


@dataclass(frozen=True)
class StoredNetwork:
    event_id: str
    config: Any  # the event as JSON


async def save(conn: Connection, event: NetworkConfigured, event_id: str) -> None:
    await conn.execute(
        "INSERT INTO network_config (network_id, config, event_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (network_id) DO UPDATE SET config = EXCLUDED.config, event_id = EXCLUDED.event_id,"
        " updated_at = now()",
        event.network_id,
        event.model_dump(mode="json"),
        event_id,
    )


async def read(conn: Connection, network_id: str) -> StoredNetwork | None:
    row = await conn.fetchrow("SELECT event_id, config FROM network_config WHERE network_id = $1", network_id)
    return from_row(StoredNetwork, row) if row else None
