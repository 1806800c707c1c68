"""Batched consumption for a pure projector: a partition's queued records in one transaction.

A service whose handlers only write its own read model (nothing emitted, no timers, no outside
effect) sets `ServiceDefinition.batch_scope`. Its consumer then takes a partition's queued records
(up to BATCH_MAX, as fetched: it never waits for more) and handles them in one transaction:
1. it claims them all in the inbox in one statement; those claimed before are repeats, skipped;
2. it runs the handlers of the others in partition order, each with its own unit of work on the
   batch's transaction (its cause the event), inside the batch scope, which settles what the batch
   changes as a whole once (a projector's summaries, its clinics' versions);
3. it commits; the partition's offset may then pass the batch (committed in the background, as
   for single records: never before the commit).
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
from .consumer import EventConsumer, Handler, _Partition
from .contracts import Event
from .db import TRANSIENT_DB_ERRORS, Connection
from .logging import get_logger
from .metrics import EVENTS_CONSUMED, HANDLER_RETRIES, HANDLER_SECONDS
from .settings import ServiceSettings
from .uow import UnitOfWork

log = get_logger(__name__)

BATCH_MAX = 500  # records per transaction at most (a long backlog is taken in steps of this)
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
        alone = {model: self._alone(handler) for model, handler in handlers.items()}
        super().__init__(settings, pool, producer, alone, topic_patterns)
        self._batch_handlers = {model.event_type: handler for model, handler in handlers.items()}
        self.concurrency = 1
        self._slots = asyncio.Semaphore(1)

    def _alone(self, handler: Handler) -> Handler:
        """The per-record path's handler: the scope around the one record."""

        async def handle(event: Event, uow: UnitOfWork) -> None:
            async with self._scope(uow.conn, [event]):
                await handler(event, uow)

        return handle

    async def _work(self, p: _Partition) -> None:
        alone = 0  # records to handle one at a time: their batch failed
        while not p.stopped.is_set():
            if not p.queue:
                p.ready.clear()
                await p.ready.wait()
                continue
            async with self._slots:
                if p.stopped.is_set():
                    return
                if alone:
                    done = 1 if await self._run(p.queue[0], p) else 0
                    alone -= done
                else:
                    done, alone = await self._run_batch(p)
            self._advance(p, done)

    async def _run_batch(self, p: _Partition) -> tuple[int, int]:
        """The partition's queued records in one transaction: (records done, records to handle alone)."""
        envelopes: list[Envelope[Event]] = []
        for record in itertools.islice(p.queue, BATCH_MAX):
            try:
                envelopes.append(decode(record.topic, record.value, record.headers))
            except MalformedEvent:
                break  # the per-record path dead-letters it, once the records before it are done
        if not envelopes:
            return 0, 1
        p.in_flight_since, started, outage = time.monotonic(), time.perf_counter(), 0
        try:
            while True:
                try:
                    repeats = await self._handle_batch(envelopes)
                    break
                except TRANSIENT_DB_ERRORS as exc:
                    outage += 1
                    HANDLER_RETRIES.labels(self._service, p.tp.topic, "outage").inc()
                    delay = self._backoff(outage)
                    log.warning("database unavailable, retrying the batch", error=repr(exc)[:200], retry_in=delay)
                    if await self._sleep(delay, p):
                        return 0, 0
                except Exception as exc:  # noqa: BLE001 - the per-record path retries and dead-letters
                    reason = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning(
                        "batch failed; its records are handled one at a time", records=len(envelopes), reason=reason
                    )
                    return 0, len(envelopes)
        finally:
            p.in_flight_since = None
        HANDLER_SECONDS.labels(self._service, p.tp.topic).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(self._service, p.tp.topic, "processed").inc(len(envelopes) - repeats)
        if repeats:
            EVENTS_CONSUMED.labels(self._service, p.tp.topic, "duplicate").inc(repeats)
        return len(envelopes), 0

    async def _handle_batch(self, envelopes: list[Envelope[Event]]) -> int:
        """Claim, handle the events not seen before inside the scope, commit; how many were repeats."""
        firsts: dict[tuple[str, str], Envelope[Event]] = {}
        for envelope in envelopes:
            firsts.setdefault((envelope.source, envelope.id), envelope)  # a record written twice
        attributes: tracing.Attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": envelopes[0].topic or "",
            "messaging.batch.message_count": len(envelopes),
        }
        async with self._connection() as conn:
            with tracing.span("batch process", envelopes[0].trace, SpanKind.CONSUMER, attributes) as trace:
                async with conn.transaction():
                    claimed = await inbox.claim_many(conn, self.group_id, list(firsts))
                    fresh = [envelope for key, envelope in firsts.items() if key in claimed]
                    async with self._scope(conn, [envelope.data for envelope in fresh]):
                        for envelope in fresh:
                            uow = UnitOfWork(conn, self._source, trace, cause=envelope)
                            await self._batch_handlers[envelope.type](envelope.data, uow)
                            await uow.flush()
        return len(envelopes) - len(fresh)
