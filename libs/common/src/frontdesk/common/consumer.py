"""Consuming events reliably: decode, dedupe, handle in one transaction, then acknowledge.

One aiokafka consumer (group = the service) fetches; each assigned partition has its own worker
task, so records of different partitions are handled concurrently (at most `concurrency` at a time,
a share of the database pool) while the records of one partition are handled strictly in order.
Records are keyed by what must stay ordered (a clinic's calls by clinic), so that order holds.

For each record:
1. Decode the CloudEvent and validate it against its contract. A record that cannot be decoded is
   malformed: no retry can fix it, so it goes to `<topic>.dlq` at once with the reason (a dead letter
   always fits its topic: deadletter.py).
2. Open a transaction; run the handler, whose writes, emitted events (outbox) and timers share
   that transaction; claim the event in the inbox in the statement that writes those events and
   timers (a repeat finds its claim taken and rolls back whole: inbox.py); commit.
3. The record is then done, and its partition's offset may advance past it. Offsets are committed
   in the background (every COMMIT_INTERVAL seconds, when a partition is revoked, at shutdown), and
   only ever up to the first record not done: a record's offset is never committed before its
   transaction (or its dead-lettering). A crash in between redelivers records the inbox drops.

A handler that raises is retried with exponential backoff up to `max_attempts`, then dead-lettered;
one that raises MalformedEvent (no retry can fix the record) is dead-lettered at once.
An infrastructure outage (database unreachable) is not the record's fault: it is retried without
limit and never dead-lettered. If publishing to the dead-letter topic fails, the record is not done:
it is tried again (its offset never passes it) rather than lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
from asyncpg.pool import PoolConnectionProxy
from opentelemetry.trace import SpanKind

from . import inbox, tracing
from .cloudevents import Envelope, MalformedEvent, decode
from .contracts import TOPIC_PATTERNS, Event, dlq_topic
from .db import TRANSIENT_DB_ERRORS
from .deadletter import DeadLetter, Origin, dead_letter
from .kafka import client_options, make_admin
from .logging import get_logger
from .metrics import CONSUMER_LAG, DLQ_PUBLISHED, EVENTS_CONSUMED, HANDLER_RETRIES, HANDLER_SECONDS, REUSED_EVENT_IDS
from .settings import ServiceSettings
from .uow import UnitOfWork, transaction

log = get_logger(__name__)

Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
PoolConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

COMMIT_INTERVAL = 0.2  # seconds between offset commits: what a crash may make the inbox drop again
FETCH_WAIT_MS = 100  # getmany's wait when nothing is buffered: also how late a due commit can be
PAUSE_AT = 1000  # records queued for one partition before its fetching pauses (memory stays bounded)
REVOKE_WAIT = 5.0  # seconds a rebalance waits for the records in flight (under the 10 s session timeout)
# Pattern subscriptions see a new matching topic (a new vendor's) within this many milliseconds.
METADATA_MAX_AGE_MS = 10_000


@dataclass(eq=False)
class _Partition:
    """One assigned partition: the records fetched and not yet done, in order, and its worker."""

    tp: TopicPartition
    queue: collections.deque[Record] = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # records queued, or stop
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    done: int | None = None  # offset after the last record done: what may be committed
    committed: int | None = None
    paused: bool = False
    in_flight_since: float | None = None
    worker: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self.stopped.set()
        self.ready.set()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._give_up(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._consumer._take(assigned)


def subscription_pattern(topics: Iterable[str], patterns: Iterable[str] = ()) -> str:
    """One regex for exact topic names and topic patterns (a consumer has one subscription)."""
    alternatives = [re.escape(t) for t in sorted(topics)] + [p.removeprefix("^").removesuffix("$") for p in patterns]
    return "^(?:" + "|".join(alternatives) + ")$"


class EventConsumer:
    """One Kafka consumer (group = the service) for all the event types the service handles."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        handlers: Mapping[type[Event], Handler],
        topic_patterns: Sequence[str] = (),
    ) -> None:
        self._settings = settings
        self._service = settings.service
        self._source = f"frontdesk/{settings.service}"
        self.group_id = settings.consumer_group
        self._pool = pool
        self._producer = producer
        self._handlers: dict[str, Handler] = {model.event_type: h for model, h in handlers.items()}
        # topic name = event type; `topic_patterns` adds topics named at run time (per vendor)
        shared = sorted(model.event_type for model in handlers if model.shared_topic)
        unreachable = sorted(
            model.event_type
            for model in handlers
            if not model.shared_topic and not set(TOPIC_PATTERNS.get(model.event_type, ())) & set(topic_patterns)
        )
        if unreachable:
            raise ValueError(f"{unreachable} travel only on per-vendor topics: subscribe to one of their patterns")
        self.topics = shared if not topic_patterns else []
        self.pattern = subscription_pattern(shared, topic_patterns) if topic_patterns else None
        # Each record in flight holds a database connection: leave the rest of the pool to the
        # outbox relay, the timers and HTTP.
        self.concurrency = max(1, settings.db_pool_size // 2)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._connections: list[PoolConnection] = []  # idle, kept between records (at most `concurrency`)
        self._draining = False
        self._last_commit = time.monotonic()
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._fetcher: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        s = self._settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"{s.service}-consumer",
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **client_options(),
        )
        if self.pattern is not None:
            consumer.subscribe(pattern=self.pattern, listener=_Rebalance(self))
        else:
            consumer.subscribe(self.topics, listener=_Rebalance(self))
        await consumer.start()
        self._consumer = consumer
        self._admin = make_admin(s.kafka_bootstrap_servers, f"{s.service}-readiness")
        await self._admin.start()
        self._fetcher = asyncio.create_task(self._fetch(), name="consumer-fetch")

    async def stop(self, timeout: float) -> None:
        """Graceful shutdown: stop fetching, let the records in flight finish, commit, leave the group.
        Records fetched but not started stay uncommitted: the partition's next owner gets them."""
        self._draining = True
        partitions = list(self._partitions.values())
        for p in partitions:
            p.stop()
        waiting = {t for t in [self._fetcher, *(p.worker for p in partitions)] if t is not None}
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=timeout)
            if late:
                log.warning("records in flight did not finish before shutdown; they will be redelivered")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._commit(partitions), timeout=timeout)
        while self._connections:
            with contextlib.suppress(Exception):  # a broken one is closed by the pool anyway
                await self._pool.release(self._connections.pop())
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()

    async def ping(self, timeout: float) -> bool:
        """The broker answers (readiness)."""
        if self._admin is None or self._fetcher is None or self._fetcher.done():
            return False
        try:
            await asyncio.wait_for(self._admin.describe_cluster(), timeout)
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
        return True

    @property
    def in_flight_since(self) -> float | None:
        """When the longest-running record in flight started (for the liveness watchdog)."""
        started = [p.in_flight_since for p in self._partitions.values() if p.in_flight_since is not None]
        return min(started, default=None)

    # --- fetching, partitions and offsets -------------------------------------------------------

    async def _fetch(self) -> None:
        assert self._consumer is not None
        while not self._draining:
            try:
                batches = await self._consumer.getmany(timeout_ms=FETCH_WAIT_MS)
                for tp, records in batches.items():
                    self._enqueue(tp, records)
                if time.monotonic() - self._last_commit >= COMMIT_INTERVAL:
                    await self._commit(list(self._partitions.values()))
            except ConsumerStoppedError:
                return
            except Exception as exc:  # noqa: BLE001 - keep fetching; readiness fails only if this loop ends
                log.warning("fetching failed, retrying", error=repr(exc)[:300])
                await asyncio.sleep(1)

    def _enqueue(self, tp: TopicPartition, records: list[Record]) -> None:
        p = self._partitions.get(tp)
        if p is None or p.stopped.is_set():
            return  # revoked meanwhile: its next owner reads these records from the committed offset
        p.queue.extend(records)
        p.ready.set()
        if len(p.queue) >= PAUSE_AT and not p.paused:
            assert self._consumer is not None
            self._consumer.pause(tp)
            p.paused = True

    def _take(self, assigned: Iterable[TopicPartition]) -> None:
        """Partitions assigned: start a worker for each (fetching starts at the committed offset)."""
        for tp in assigned:
            if tp in self._partitions or self._draining:
                continue
            p = _Partition(tp)
            p.worker = asyncio.create_task(self._work(p), name=f"consumer-{tp.topic}-{tp.partition}")
            self._partitions[tp] = p

    async def _give_up(self, revoked: Iterable[TopicPartition]) -> None:
        """Partitions revoked (a rebalance): finish the records in flight, commit what is done, and
        forget the rest, which the partitions' next owners fetch again from those offsets."""
        partitions = [p for tp in revoked if (p := self._partitions.pop(tp, None)) is not None]
        for p in partitions:
            p.stop()
        workers = {p.worker for p in partitions if p.worker is not None}
        if workers:
            _, late = await asyncio.wait(workers, timeout=REVOKE_WAIT)
            if late:
                # Their records were not committed here: the next owner handles them again, and the
                # inbox (and the clinic locks) make the overlap harmless.
                log.warning("records in flight did not finish before the rebalance", partitions=len(late))
        await self._commit(partitions)

    async def _commit(self, partitions: list[_Partition]) -> None:
        """Commit, per partition, the offset after its last record done (never past one not done)."""
        self._last_commit = time.monotonic()
        offsets = {p.tp: p.done for p in partitions if p.done is not None and p.done != p.committed}
        if not offsets or self._consumer is None:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced: these partitions may be someone else's now, who starts from the
            # last commit that succeeded; the inbox drops what we had done since.
            log.info("offset commit skipped after a rebalance", error=repr(exc)[:200])
            return
        except KafkaError as exc:
            log.warning("offset commit failed; retried with the next commit", error=repr(exc)[:300])
            return
        for p in partitions:
            if p.tp in offsets:
                p.committed = offsets[p.tp]

    async def _work(self, p: _Partition) -> None:
        """Handle one partition's records in order until the partition is stopped."""
        while not p.stopped.is_set():
            if not p.queue:
                p.ready.clear()
                await p.ready.wait()
                continue
            record = p.queue[0]
            async with self._slots:
                if p.stopped.is_set():
                    return
                done = await self._run(record, p)
            if done:  # else tried again, unless the partition is stopping
                self._advance(p, 1)

    def _advance(self, p: _Partition, count: int) -> None:
        """The first `count` queued records are done: their offsets may be committed."""
        for _ in range(count):
            p.done = p.queue.popleft().offset + 1
        if p.paused and len(p.queue) <= PAUSE_AT // 2 and not p.stopped.is_set():
            assert self._consumer is not None
            self._consumer.resume(p.tp)
            p.paused = False

    async def _run(self, record: Record, p: _Partition) -> bool:
        p.in_flight_since = time.monotonic()
        started = time.perf_counter()
        try:
            try:
                done = await self._process(record, p)
            except Exception:
                log.exception("unexpected consumer failure; the record will be tried again")
                await self._sleep(self._settings.retry_backoff_max_seconds, p)
                return False
            if done:
                HANDLER_SECONDS.labels(self._service, record.topic).observe(time.perf_counter() - started)
            return done
        finally:
            p.in_flight_since = None
            structlog.contextvars.unbind_contextvars("event_id", "event_type", "trace_id")

    # --- one record -----------------------------------------------------------------------------

    async def _process(self, record: Record, p: _Partition) -> bool:
        """Handle one record to completion. False means: not done, try it again (or leave it to the
        partition's next owner when stopping)."""
        try:
            envelope = decode(record.topic, record.value, record.headers)
        except MalformedEvent as exc:
            log.warning(
                "malformed record",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=str(exc),
            )
            return await self._dead_letter(record, str(exc), attempts=1, p=p)
        structlog.contextvars.bind_contextvars(
            event_id=envelope.id, event_type=envelope.type, trace_id=envelope.trace.trace_id
        )
        attempt = 0
        outage = 0
        while True:
            try:
                duplicate = await self._handle(envelope)
                outcome = "duplicate" if duplicate else "processed"
                EVENTS_CONSUMED.labels(self._service, record.topic, outcome).inc()
                return True
            except inbox.ReusedId as exc:
                # Not a repeat: another event under an id already used. Ids only, never the content.
                REUSED_EVENT_IDS.labels(self._service, record.topic).inc()
                log.warning("event id reused for other content, dead-lettering", event_source=envelope.inbox_source)
                return await self._dead_letter(record, str(exc), attempts=attempt + 1, p=p)
            except MalformedEvent as exc:
                # The handler found that no retry can make it apply (e.g. a vendor writing about a
                # call that is not its own): parked at once, with the reason, for an operator.
                return await self._dead_letter(record, str(exc)[:500], attempts=attempt + 1, p=p)
            except TRANSIENT_DB_ERRORS as exc:
                # The database is away; the record is fine. Wait and try again, without limit (a
                # rebalance or shutdown stops waiting and leaves the record uncommitted).
                outage += 1
                HANDLER_RETRIES.labels(self._service, record.topic, "outage").inc()
                delay = self._settings.retry_backoff(outage)
                log.warning("database unavailable, retrying", error=repr(exc)[:200], retry_in=delay)
                if await self._sleep(delay, p):
                    return False
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"[:500]
                if attempt >= self._settings.max_attempts:
                    log.error("handler failed, dead-lettering", attempts=attempt, reason=reason)
                    return await self._dead_letter(record, reason, attempts=attempt, p=p)
                HANDLER_RETRIES.labels(self._service, record.topic, "error").inc()
                log.warning("handler failed, retrying", attempt=attempt, reason=reason)
                if await self._sleep(self._settings.retry_backoff(attempt), p):
                    return False

    async def _handle(self, envelope: Envelope[Event]) -> bool:
        """Run the handler in one transaction that also claims the event in the inbox, in its last
        statement (inbox.py). True if it was a duplicate: claimed before, so all of it rolled back."""
        claim = inbox.Claim.of(self.group_id, envelope)
        span = tracing.span(f"{envelope.type} process", envelope.trace, SpanKind.CONSUMER, _attributes(envelope))
        async with self._connection() as conn:
            with span as trace:  # a duplicate is no error of the span's: caught inside it
                try:
                    async with transaction(conn, self._source, trace, envelope, claim) as uow:
                        await self._handlers[envelope.type](envelope.data, uow)
                except inbox.AlreadyProcessed:
                    if await inbox.seen(conn, claim):  # raises ReusedId if its content differs
                        return True
                    raise  # its row is gone since (a waiting event dead-lettered): handle it again
                except TRANSIENT_DB_ERRORS:
                    raise
                except Exception:
                    # A repeat may fail on what its first run left (say, a row that now exists); it is
                    # still a repeat, not a failure to retry and dead-letter.
                    if await inbox.seen(conn, claim):
                        return True
                    raise
        return False

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnection]:
        """A pool connection, kept from one record to the next (no acquire and release per record). A
        failure hands it back: asyncpg rolls back what was left open, or replaces a broken connection."""
        conn = self._connections.pop() if self._connections else await self._pool.acquire()
        try:
            yield conn
        except BaseException:
            await self._pool.release(conn)
            raise
        self._connections.append(conn)

    @staticmethod
    async def _sleep(seconds: float, p: _Partition) -> bool:
        """Wait `seconds`, or less if the partition stops; True if it stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(p.stopped.wait(), timeout=seconds)
        return p.stopped.is_set()

    async def _dead_letter(self, record: Record, reason: str, attempts: int, p: _Partition) -> bool:
        origin = Origin(record.topic, record.partition, record.offset, self.group_id, attempts)
        letter = dead_letter(record.key, record.value, record.headers, reason, origin)
        try:
            try:
                await self._send_dead_letter(record.topic, letter)
            except (MessageSizeTooLargeError, RecordTooLargeError):
                # The dead-letter topic takes less than this copy: the reason and the origin still fit.
                log.warning("dead letter too large for its topic; sending its origin only", topic=record.topic)
                await self._send_dead_letter(record.topic, letter.minimal())
        except Exception as exc:  # noqa: BLE001 - never commit a record we could not park
            log.error("dead-letter publish failed; the record will be tried again", error=repr(exc)[:300])
            await self._sleep(self._settings.retry_backoff_max_seconds, p)
            return False
        DLQ_PUBLISHED.labels(self._service, record.topic).inc()
        EVENTS_CONSUMED.labels(self._service, record.topic, "dead_lettered").inc()
        return True

    async def _send_dead_letter(self, topic: str, letter: DeadLetter) -> None:
        await self._producer.send_and_wait(dlq_topic(topic), value=letter.value, key=letter.key, headers=letter.headers)

    async def update_lag(self) -> None:
        """Export how far behind the end of each assigned partition this consumer is (records fetched
        but not done yet count as behind)."""
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            p = self._partitions.get(tp)
            if highwater is None or p is None:
                continue
            position = await asyncio.wait_for(consumer.position(tp), timeout=5)
            lag = highwater - position + len(p.queue)
            CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(max(lag, 0))


def _attributes(envelope: Envelope[Event]) -> tracing.Attributes:
    """The span attributes of a consumed record: where it came from and what it is, no payload."""
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": envelope.topic or "",
        "messaging.message.id": envelope.id,
        "cloudevents.event_type": envelope.type,
        "cloudevents.event_source": envelope.source,
    }
