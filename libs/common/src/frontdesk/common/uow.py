"""The unit of work a handler gets: one database transaction, plus ways to emit events and set timers.

Everything a handler does through it commits or rolls back together: its own rows, the inbox row
(see inbox.py), the events it emits (outbox) and the timers it sets or cancels.

Emitted events and timers set are kept here and written by `flush()` in one statement just before
the transaction commits (the consumer, the timer worker and `Service.unit_of_work` call it): on a
2-core machine every round trip to PostgreSQL is CPU on both sides, and a handler that emits three
events and sets a timer would otherwise pay two or more. Nothing in a handler reads the outbox, and
the timer methods below see the timers not flushed yet, so the deferral is invisible to handlers.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import inbox, outbox, tracing
from .cloudevents import Envelope, OutgoingRecord, TraceContext, encode, new_event_id, topic_of
from .contracts import Event
from .db import Connection
from .timer_payloads import TimerPayload


def _outbox_rows(n: int) -> str:
    """The outbox rows, in emission order (the relay publishes in id order), with parameters $n..$n+4."""
    return (
        "INSERT INTO outbox (event_id, topic, record_key, headers, payload)"
        f" SELECT e, t, k, h::jsonb, p FROM unnest(${n}::text[], ${n + 1}::text[], ${n + 2}::text[],"
        f" ${n + 3}::text[], ${n + 4}::bytea[]) WITH ORDINALITY AS r(e, t, k, h, p, o) ORDER BY o"
    )


def _timer_rows(n: int) -> str:
    """The timers, with parameters $n..$n+4. Setting a timer again replaces it (and revives a parked one)."""
    return (
        "INSERT INTO timers (timer_key, kind, due_at, payload, traceparent)"
        f" SELECT k, kd, d, p::jsonb, ${n + 4}"
        f" FROM unnest(${n}::text[], ${n + 1}::text[], ${n + 2}::timestamptz[], ${n + 3}::text[]) AS r(k, kd, d, p)"
        " ON CONFLICT (timer_key) DO UPDATE SET kind = EXCLUDED.kind, due_at = EXCLUDED.due_at,"
        " payload = EXCLUDED.payload, traceparent = EXCLUDED.traceparent, attempts = 0,"
        " last_error = NULL, dead_at = NULL"
    )


@functools.cache
def _flush_sql(events: bool, timers: bool, claim: bool, notify: bool) -> str:
    """One statement for whatever a unit of work writes at its end: outbox rows (5 parameters),
    timers (5), the inbox claim (4), in that order, and a NOTIFY for the outbox relay. The last part
    is the statement, the others are data-modifying CTEs, which PostgreSQL runs whether or not they
    are referenced; with a NOTIFY, the statement says whether the claim was made."""
    parts: list[str] = []
    n = 1
    for present, build, count in (
        (events, _outbox_rows, 5),
        (timers, _timer_rows, 5),
        (claim, inbox.claim_sql, inbox.CLAIM_PARAMETERS),
    ):
        if present:
            parts.append(build(n))
            n += count
    if notify:
        claimed = f"(SELECT * FROM w{len(parts) - 1})" if claim else "NULL"
        parts.append(f"SELECT {claimed}, pg_notify('outbox', '')")
    *ctes, statement = parts
    if not ctes:
        return statement
    return "WITH " + ", ".join(f"w{i} AS ({cte})" for i, cte in enumerate(ctes)) + " " + statement


@dataclass(frozen=True)
class _PendingTimer:
    due_at: datetime
    payload: TimerPayload


@dataclass
class Writes:
    """Events to publish and timers to set, held until one statement writes them all: a unit of
    work's own (flushed just before its commit), or a command's kept apart (`UnitOfWork.apart`) for
    a statement of its own that writes them only if the command succeeds."""

    source: str  # CloudEvents source of what this service emits, e.g. "frontdesk/scheduler"
    trace: TraceContext
    events: list[tuple[OutgoingRecord, str]] = field(default_factory=list)
    timers: dict[str, _PendingTimer] = field(default_factory=dict)

    async def emit(self, event: Event, *, event_id: str | None = None, topic: str | None = None) -> str:
        """Queue `event` for publication once the transaction commits; return its id.

        `topic` overrides the registry topic (for per-vendor topics)."""
        event_id = event_id or new_event_id()
        trace = tracing.publish(event.event_type, self.trace, topic_of(event, topic))
        record = encode(event, source=self.source, event_id=event_id, trace=trace, topic=topic)
        self.events.append((record, event_id))
        return event_id

    def publish(self, record: OutgoingRecord) -> None:
        """Queue a record as it is (a dead letter: not an event of ours) for once the transaction commits."""
        self.events.append((record, new_event_id()))

    async def set_timer(self, key: str, due_at: datetime, payload: TimerPayload) -> None:
        """Create or move the timer `key` (unique per service), of the payload's kind. Setting it
        again replaces it."""
        self.timers.pop(key, None)  # re-inserted last: the newest setting wins
        self.timers[key] = _PendingTimer(due_at, payload)

    def notify(self) -> bool:
        """Whether the statement that writes these events must NOTIFY the outbox relay: it leads in
        another process (or nowhere yet); one that leads in this one is woken after the commit."""
        return bool(self.events) and not outbox.leads_here(self.source)

    def outbox_args(self) -> list[Any]:
        """The outbox rows as five arrays: event ids, topics, record keys, headers (JSON), payloads."""
        events = self.events
        return [
            [event_id for _, event_id in events],
            [r.topic for r, _ in events],
            [r.key.decode() for r, _ in events],
            [json.dumps([[name, value.decode()] for name, value in r.headers]) for r, _ in events],
            [r.value for r, _ in events],
        ]

    def timer_args(self) -> list[Any]:
        """The timers as four arrays (keys, kinds, due times, payloads as JSON) and the traceparent."""
        timers = self.timers
        return [
            list(timers),
            [t.payload.kind for t in timers.values()],
            [t.due_at for t in timers.values()],
            # Fields at their default are left out: the JSON is then what rows held before the models.
            [t.payload.model_dump_json(exclude_defaults=True) for t in timers.values()],
            self.trace.header(),
        ]


@dataclass
class UnitOfWork:
    conn: Connection
    source: str  # CloudEvents source of what this service emits, e.g. "frontdesk/scheduler"
    trace: TraceContext
    cause: Envelope[Event] | None = None
    claim: inbox.Claim | None = None  # the consumer's: the event `cause`, claimed at flush
    # Outbox rows were written: the relay is woken once the transaction commits (`committed`).
    wrote_events: bool = field(default=False, init=False)
    _pending: Writes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pending = self.apart()

    def _writes(self) -> Writes:
        """The pending writes, under the work's trace as it is now (a timer's work learns its span
        only once the timer is claimed, after the unit of work began)."""
        self._pending.trace = self.trace
        return self._pending

    def apart(self) -> Writes:
        """Events and timers kept apart from this unit of work's own: the flush does not write them;
        a statement of the caller's does (only if its command succeeds, e.g. the scheduler's booking)."""
        return Writes(self.source, self.trace)

    def written(self, writes: Writes) -> None:
        """A statement of the caller's wrote `writes` (kept apart with `apart`) in this transaction."""
        self.wrote_events = self.wrote_events or bool(writes.events)

    def committed(self) -> None:
        """The transaction committed: wake the outbox relay if it leads in this process and rows were
        written (a relay elsewhere was sent a NOTIFY by the writing statement)."""
        if self.wrote_events:
            outbox.wake_after_commit(self.source)

    async def emit(self, event: Event, *, event_id: str | None = None, topic: str | None = None) -> str:
        """Queue `event` for publication once this transaction commits; return its id.

        `topic` overrides the registry topic (for per-vendor topics)."""
        return await self._writes().emit(event, event_id=event_id, topic=topic)

    def publish(self, record: OutgoingRecord) -> None:
        """Queue a record as it is (a dead letter: not an event of ours) for once the transaction commits."""
        self._writes().publish(record)

    async def emit_many(self, events: Sequence[tuple[Event, str | None]]) -> list[str]:
        """`emit` for several (event, topic override) pairs, in order."""
        return [await self.emit(event, topic=topic) for event, topic in events]

    async def set_timer(self, key: str, due_at: datetime, payload: TimerPayload) -> None:
        """Create or move the timer `key` (unique per service), of the payload's kind. Setting it
        again replaces it."""
        await self._writes().set_timer(key, due_at, payload)

    async def cancel_timer(self, key: str) -> bool:
        """Remove the timer `key`; True if there was one (set in this unit of work or before)."""
        pending = self._pending.timers.pop(key, None) is not None
        deleted = await self.conn.execute("DELETE FROM timers WHERE timer_key = $1", key) != "DELETE 0"
        return pending or deleted

    async def cancel_timers(self, key_prefix: str) -> None:
        """Remove every timer whose key starts with `key_prefix`."""
        timers = self._pending.timers
        for key in [k for k in timers if k.startswith(key_prefix)]:
            del timers[key]
        await self.conn.execute("DELETE FROM timers WHERE starts_with(timer_key, $1)", key_prefix)

    def take_claim(self) -> inbox.Claim | None:
        """The inbox claim, for a statement of the handler's that makes it (inbox.claiming) and raises
        inbox.AlreadyProcessed for a repeat; the flush then claims nothing."""
        claim, self.claim = self.claim, None
        return claim

    async def flush(self) -> None:
        """Write the queued events and timers, and the inbox claim (one round trip); called just
        before the commit. Raises inbox.AlreadyProcessed if the event was claimed before."""
        pending, self._pending = self._writes(), self.apart()
        events, timers = bool(pending.events), bool(pending.timers)
        if not events and not timers and self.claim is None:
            return
        args = (pending.outbox_args() if events else []) + (pending.timer_args() if timers else [])
        sql = _flush_sql(events, timers, self.claim is not None, pending.notify())
        if self.claim is None:
            await self.conn.execute(sql, *args)
        elif await self.conn.fetchval(sql, *args, *self.claim.args()) is None:
            raise inbox.AlreadyProcessed(self.claim.event_id)
        self.written(pending)


@asynccontextmanager
async def transaction(
    conn: Connection,
    source: str,
    trace: TraceContext,
    cause: Envelope[Event] | None = None,
    claim: inbox.Claim | None = None,
) -> AsyncIterator[UnitOfWork]:
    """A transaction on `conn` and its unit of work, flushed before the commit. With `claim`, the
    commit also records the event in the inbox, or the whole transaction rolls back with
    inbox.AlreadyProcessed if it was recorded before."""
    async with conn.transaction():
        uow = UnitOfWork(conn, source, trace, cause, claim)
        yield uow
        await uow.flush()
    uow.committed()
