"""Transactional outbox: events are rows written with the state change, published by a relay.

The relay holds a session advisory lock so exactly one replica of a service publishes at a time;
that keeps each record key's events in the order they were committed. It reads rows in id order,
sends them all, waits for Kafka's acknowledgements, then deletes them with its next read (at the
latest at its next poll). A crash between the acknowledgement and the deletion republishes the
batch with the same event ids, which consumers drop through their inbox.

A commit of outbox rows wakes the relay, so it publishes at once, not at its next poll: the unit of
work that wrote them wakes it itself after its commit when the relay leads in the same process (one
replica, or the leading one), and sends a NOTIFY only when it does not (the relay LISTENs). A NOTIFY
is not free: PostgreSQL holds a database-wide lock from a notifying transaction's pre-commit until
its commit record is flushed, so notifying writers commit one at a time, each after its own WAL
flush (the scheduler's booking ran 1.3-1.9x faster without one, benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer

from .db import TRANSIENT_DB_ERRORS, Connection, session_changed
from .logging import get_logger
from .metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = get_logger(__name__)
_RELAY_LOCK_KEY = "frontdesk-outbox-relay"
BACKLOG_EVERY = 1.0  # seconds between refreshes of the backlog gauge
# The oldest rows not yet published ($1 at most), deleting those the last batch published ($2). The
# deletion and the read see the same snapshot, hence the read's filter.
_NEXT_BATCH = (
    "WITH published AS (DELETE FROM outbox WHERE id = ANY($2::bigint[]))"
    " SELECT id, topic, record_key, headers, payload FROM outbox WHERE id <> ALL($2::bigint[]) ORDER BY id LIMIT $1"
)


class Wakeable(Protocol):
    def wake(self) -> None: ...


# The relays leading in this process, by the CloudEvents source of the service they relay for.
_leaders: dict[str, Wakeable] = {}


@contextlib.contextmanager
def leading(source: str | None, relay: Wakeable) -> Iterator[None]:
    """`relay` leads for the service emitting as `source` in this process while in the block (None:
    for no service of this process: its writers NOTIFY it)."""
    if source is not None:
        _leaders[source] = relay
    try:
        yield
    finally:
        if source is not None and _leaders.get(source) is relay:
            del _leaders[source]


def leads_here(source: str) -> bool:
    """Whether the relay of the service emitting as `source` leads in this process: if so, a commit
    wakes it with `wake_after_commit`; if not, the writing transaction NOTIFYs the leader."""
    return source in _leaders


def wake_after_commit(source: str) -> None:
    """Outbox rows of `source` were committed: wake its relay if it leads here (else a NOTIFY did)."""
    relay = _leaders.get(source)
    if relay is not None:
        relay.wake()


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        service: str,
        *,
        source: str | None = None,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
    ) -> None:
        """`source`: the CloudEvents source of the service whose outbox it relays; while it leads, that
        service's units of work in this process wake it instead of a NOTIFY (None: always a NOTIFY)."""
        self._pool = pool
        self._source = source
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.is_leader = False
        self._published: list[int] = []  # acknowledged by Kafka, deleted by the next read

    async def publish_batch(self, conn: Connection) -> int:
        """Publish up to one batch; return how many rows were published.

        Read the oldest rows, send them all and wait for Kafka's acknowledgement of every one. The
        rows are deleted by the next read, in the same statement (no transaction: only the leader
        deletes, and the advisory lock makes it the only one reading), so a steady flow costs one
        round trip per batch. A failed send leaves the rows for the next batch."""
        rows = await conn.fetch(_NEXT_BATCH, self._batch_size, self._published)
        self._published = []
        if not rows:
            return 0
        # send() only appends to the producer's batch in call order; the idempotent producer
        # keeps that order per partition while several batches are in flight.
        futures = [
            await self._producer.send(
                row["topic"],
                value=bytes(row["payload"]),
                key=row["record_key"].encode(),
                headers=[(name, value.encode()) for name, value in row["headers"]],
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
        self._published = [row["id"] for row in rows]
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def _publish_until_short(self, conn: Connection) -> int:
        """Publish until a batch comes back short: rows committed after its read notify the relay,
        which then publishes again (so an empty read is not needed to know it is done)."""
        total = 0
        while True:
            published = await self.publish_batch(conn)
            total += published
            if published < self._batch_size:
                return total

    async def drain(self, conn: Connection) -> int:
        """Publish everything there is and delete it."""
        total = await self._publish_until_short(conn)
        if self._published:
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", self._published)
            self._published = []
        return total

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until stop(); survive database and broker outages by retrying."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._run_as_leader()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep relaying after any outage
                level = "warning" if isinstance(exc, TRANSIENT_DB_ERRORS) else "error"
                getattr(log, level)("outbox relay interrupted", error=repr(exc)[:300], retry_in=backoff)
                self.is_leader = False
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _run_as_leader(self) -> None:
        conn = await self._pool.acquire()
        session_changed(conn)  # a session lock, a setting and LISTEN: reset when released
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", _RELAY_LOCK_KEY):
                self.is_leader = False
                await self._sleep(self._poll_seconds * 4)
                if self._stopping.is_set():
                    return
            self.is_leader = True
            # The relay only deletes rows it has published: should PostgreSQL lose the last of those
            # deletions in a crash, the rows are published again and consumers drop them (inbox). So
            # it need not wait for each deletion to reach the disk (the pool's reset undoes this).
            await conn.execute("SET synchronous_commit = off")
            await conn.add_listener("outbox", self.wake)
            try:
                with leading(self._source, self):
                    await self._lead(conn)
                # Graceful shutdown: publish whatever committed transactions left behind.
                await self.drain(conn)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener("outbox", self.wake)
        finally:
            self.is_leader = False
            # Releasing the connection ends the session lock only if the connection closes; unlock
            # explicitly so a standby replica can take over at once.
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await self._pool.release(conn)

    async def _lead(self, conn: Connection) -> None:
        counted = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            await self._publish_until_short(conn)
            if time.monotonic() - counted >= BACKLOG_EVERY:  # not on every wake-up: a round trip
                backlog = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE id <> ALL($1::bigint[])", self._published
                )
                OUTBOX_BACKLOG.labels(self._service).set(backlog)
                counted = time.monotonic()
            await self._sleep(self._poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
