"""The unit of work a handler gets: one database transaction, plus ways to emit events and set timers.

Everything a handler does through it commits or rolls back together: its own rows, the inbox row,
the events it emits (outbox) and the timers it sets or cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import outbox
from .cloudevents import Envelope, TraceContext, encode, new_event_id
from .contracts import Event
from .db import Connection


@dataclass
class UnitOfWork:
    conn: Connection
    source: str  # CloudEvents source of what this service emits, e.g. "frontdesk/scheduler"
    trace: TraceContext
    cause: Envelope[Event] | None = None

    async def emit(self, event: Event, *, event_id: str | None = None, topic: str | None = None) -> str:
        """Queue `event` for publication once this transaction commits; return its id.

        `topic` overrides the registry topic (for per-vendor topics)."""
        event_id = event_id or new_event_id()
        record = encode(event, source=self.source, event_id=event_id, trace=self.trace.child(), topic=topic)
        await outbox.add(self.conn, record, event_id)
        return event_id

    async def emit_many(self, events: Sequence[tuple[Event, str | None]]) -> list[str]:
        """`emit` for several (event, topic override) pairs, in order, in one round trip."""
        records = []
        for event, topic in events:
            event_id = new_event_id()
            record = encode(event, source=self.source, event_id=event_id, trace=self.trace.child(), topic=topic)
            records.append((record, event_id))
        if records:
            await outbox.add_many(self.conn, records)
        return [event_id for _, event_id in records]

    async def set_timer(self, key: str, kind: str, due_at: datetime, payload: dict[str, Any]) -> None:
        """Create or move the timer `key` (unique per service). Setting it again replaces it."""
        await self.conn.execute(
            "INSERT INTO timers (timer_key, kind, due_at, payload, traceparent) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (timer_key) DO UPDATE SET kind = EXCLUDED.kind, due_at = EXCLUDED.due_at,"
            " payload = EXCLUDED.payload, traceparent = EXCLUDED.traceparent, attempts = 0,"
            " last_error = NULL, dead_at = NULL",
            key,
            kind,
            due_at,
            payload,
            self.trace.header(),
        )

    async def cancel_timer(self, key: str) -> bool:
        return (await self.conn.execute("DELETE FROM timers WHERE timer_key = $1", key)) != "DELETE 0"
