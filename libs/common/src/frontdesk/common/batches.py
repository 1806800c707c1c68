"""Batched consumption for a pure projector: a partition's queued records in one transaction.

A service whose handlers only write its own read model (nothing emitted, no timers, no outside
effect) sets `ServiceDefinition.batch_scope`. Its consumer then takes the records its partitions
have queued (up to BATCH_MAX, as fetched: it never waits for more; each partition's in order) and
handles them in one transaction:
1. it claims them all in the inbox in one statement; those claimed before are repeats, skipped;
2. it runs the handlers of the others in partition order, each with its own unit of work on the
   batch's transaction (its cause the event), inside the batch scope, which settles what the batch
   changes as a whole once (a projector's summaries, its clinics' versions);
3. it commits; each partition's offset may then pass its records (committed in the background,
   as for single records: never before the commit).
Batches run one at a time: a projector's writes cross partitions (a clinic's summary rows), and one
writer never deadlocks with itself. A record that cannot be decoded ends the batch before it. A
batch that fails rolls back whole and its records are then handled one at a time by the per-record
path, with its retries and dead letters (the scope around each). A database outage is waited out.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

import asyncpg
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind

from . import inbox, tracing
from .cloudevents import Envelope, MalformedEvent, decode
from .consumer import EventConsumer, Handler, Record, _Partition
from .contracts import Event
from .db import TRANSIENT_DB_ERRORS, Connection
from .logging import get_logger
from .metrics import EVENTS_CONSUMED, HANDLER_RETRIES, HANDLER_SECONDS
from .settings import ServiceSettings
from .uow import UnitOfWork

log = get_logger(__name__)

BATCH_MAX = 500  # records per transaction at most (a long backlog is taken in steps of this)
DECODE_STEP = 50  # records decoded between two turns of the event loop
# What wraps the handlers of one batch, inside its transaction: given the batch's new events.
BatchScope = Callable[[Connection, Sequence[Event]], AbstractAsyncContextManager[None]]


class BatchConsumer(EventConsumer):
    def __init__(
        self,
        settings: ServiceSettings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        handlers: Mapping[type[Event], Handler],
        scope: BatchScope,
        topic_patterns: Sequence[str] = (),
    ) -> None:
        self._scope = scope
        alone = {model: self._one_by_one(handler) for model, handler in handlers.items()}
        super().__init__(settings, pool, producer, alone, topic_patterns)
        self._batch_handlers = {model.event_type: handler for model, handler in handlers.items()}
        self._alone: dict[_Partition, int] = {}  # records to handle one at a time: their batch failed
        self.concurrency = 1
        self._slots = asyncio.Semaphore(1)

    def _one_by_one(self, handler: Handler) -> Handler:
        """The per-record path's handler: the scope around the one record."""

        async def handle(event: Event, uow: UnitOfWork) -> None:
            async with self._scope(uow.conn, [event]):
                await handler(event, uow)

        return handle

    async def _work(self, p: _Partition) -> None:
        while not p.stopped.is_set():
            if not p.queue:
                p.ready.clear()
                await p.ready.wait()
                continue
            async with self._slots:
                if p.stopped.is_set():
                    return
                if not p.queue:
                    continue  # another partition's batch took its records meanwhile
                if self._alone.get(p, 0):
                    done = 1 if await self._run(p.queue[0], p) else 0
                    self._alone[p] -= done
                    self._advance(p, done)
                else:
                    await self._run_batch(p)

    async def _gather(self, p: _Partition) -> list[tuple[_Partition, list[Envelope[Event]]]]:
        """Records for one batch: this partition's queued ones first, then those other partitions
        have queued (their workers wait for the same turn), each partition's in order, each up to
        its first record that cannot be decoded."""
        others = [q for q in self._partitions.values() if q is not p and q.queue and not q.stopped.is_set()]
        taken: list[tuple[_Partition, list[Envelope[Event]]]] = []
        room = BATCH_MAX
        for q in [p, *(q for q in others if not self._alone.get(q, 0))]:
            envelopes = await self._decoded(list(itertools.islice(q.queue, room)))
            if q is p and not envelopes:
                return []
            if envelopes:
                taken.append((q, envelopes))
                room -= len(envelopes)
            if not room:
                break
        return taken

    @staticmethod
    async def _decoded(records: list[Record]) -> list[Envelope[Event]]:
        """The records decoded, up to the first that cannot be (the per-record path dead-letters it,
        once the records before it are done). Decoding is CPU: the event loop gets a turn every
        DECODE_STEP records, so that pages served by the same process do not wait for a whole batch."""
        envelopes: list[Envelope[Event]] = []
        for n, record in enumerate(records):
            if n and not n % DECODE_STEP:
                await asyncio.sleep(0)
            try:
                envelopes.append(decode(record.topic, record.value, record.headers))
            except MalformedEvent:
                break
        return envelopes

    async def _run_batch(self, p: _Partition) -> None:
        """Queued records in one transaction; on a failure, their partitions go one record at a time."""
        taken = await self._gather(p)
        if not taken:
            self._alone[p] = 1  # its first record cannot be decoded
            return
        envelopes = [e for _, batch in taken for e in batch]
        p.in_flight_since, started, outage = time.monotonic(), time.perf_counter(), 0
        try:
            while True:
                try:
                    repeats = await self._handle_batch(envelopes)
                    break
                except TRANSIENT_DB_ERRORS as exc:
                    outage += 1
                    HANDLER_RETRIES.labels(self._service, p.tp.topic, "outage").inc()
                    delay = self._settings.retry_backoff(outage)
                    log.warning("database unavailable, retrying the batch", error=repr(exc)[:200], retry_in=delay)
                    if await self._sleep(delay, p):
                        return
                except Exception as exc:  # noqa: BLE001 - the per-record path retries and dead-letters
                    reason = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("batch failed; its records go one at a time", records=len(envelopes), reason=reason)
                    for q, batch in taken:
                        self._alone[q] = len(batch)
                    return
        finally:
            p.in_flight_since = None
        HANDLER_SECONDS.labels(self._service, p.tp.topic).observe(time.perf_counter() - started)
        for q, batch in taken:
            self._advance(q, len(batch))
            EVENTS_CONSUMED.labels(self._service, q.tp.topic, "processed").inc(len(batch))
        if repeats:
            EVENTS_CONSUMED.labels(self._service, p.tp.topic, "duplicate").inc(repeats)

    async def _handle_batch(self, envelopes: list[Envelope[Event]]) -> int:
        """Claim, handle the events not seen before inside the scope, commit; how many were repeats."""
        firsts: dict[tuple[str, str], tuple[Envelope[Event], inbox.Claim]] = {}
        for envelope in envelopes:
            claim = inbox.Claim.of(self.group_id, envelope)
            first = firsts.setdefault((claim.event_source, claim.event_id), (envelope, claim))  # written twice
            if first[1].digest != claim.digest:
                raise inbox.ReusedId(claim.event_source, claim.event_id)  # one at a time: dead-lettered
        attributes: tracing.Attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": envelopes[0].topic or "",
            "messaging.batch.message_count": len(envelopes),
        }
        async with self._connection() as conn:
            with tracing.span("batch process", envelopes[0].trace, SpanKind.CONSUMER, attributes) as trace:
                works: list[UnitOfWork] = []
                async with conn.transaction():
                    claimed = await inbox.claim_many(conn, [claim for _, claim in firsts.values()])
                    fresh = [envelope for key, (envelope, _) in firsts.items() if key in claimed]
                    async with self._scope(conn, [envelope.data for envelope in fresh]):
                        for envelope in fresh:
                            uow = UnitOfWork(conn, self._source, trace, cause=envelope)
                            works.append(uow)
                            await self._batch_handlers[envelope.type](envelope.data, uow)
                            await uow.flush()
                for uow in works:
                    uow.committed()
        return len(envelopes) - len(fresh)
