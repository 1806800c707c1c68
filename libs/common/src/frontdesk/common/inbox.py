"""Inbox: idempotent consumers. An event's side effects and its inbox row commit together."""

from __future__ import annotations

from .db import Connection


async def claim(conn: Connection, consumer: str, event_source: str, event_id: str) -> bool:
    """Record the event as processed by `consumer`; False if it already was (skip it)."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_source, event_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_source,
        event_id,
    )
    return inserted is not None
