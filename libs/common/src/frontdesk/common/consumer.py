"""Consuming events reliably: decode, dedupe, handle in one transaction, then acknowledge.

For each record, in partition order:
1. Decode the CloudEvent and validate it against its contract. A record that cannot be decoded is
   malformed: no retry can fix it, so it goes to `<topic>.dlq` at once with the reason.
2. Open a transaction; claim the event in the inbox (a repeat is skipped); run the handler, whose
   writes, emitted events (outbox) and timers share that transaction; commit.
3. Only then commit the Kafka offset (faststream AckPolicy.MANUAL).

A handler that raises is retried with exponential backoff up to `max_attempts`, then dead-lettered.
An infrastructure outage (database unreachable) is not the record's fault: it is retried without
limit and never dead-lettered. If publishing to the dead-letter topic fails, the offset is not
committed: the record is fetched again (nack) rather than lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from . import inbox
from .cloudevents import Envelope, MalformedEvent, decode
from .contracts import Event, dlq_topic
from .db import TRANSIENT_DB_ERRORS
from .logging import get_logger
from .metrics import CONSUMER_LAG, DLQ_PUBLISHED, EVENTS_CONSUMED, HANDLER_RETRIES, HANDLER_SECONDS
from .settings import ServiceSettings
from .uow import UnitOfWork

log = get_logger(__name__)

Handler = Callable[[Any, UnitOfWork], Awaitable[None]]


async def _raw_body(msg: Any) -> bytes:
    """faststream decoder that leaves the body alone (its default parses JSON before our code runs)."""
    body: bytes = msg.body
    return body


class EventConsumer:
    """One Kafka consumer (group = the service) for all the event types the service handles."""

    def __init__(
        self,
        settings: ServiceSettings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        handlers: Mapping[type[Event], Handler],
    ) -> None:
        self._settings = settings
        self._service = settings.service
        self._source = f"frontdesk/{settings.service}"
        self.group_id = f"frontdesk.{settings.service}"
        self._pool = pool
        self._producer = producer
        self._handlers: dict[str, Handler] = {model.event_type: h for model, h in handlers.items()}
        self.topics = sorted(self._handlers)  # topic name = event type
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.in_flight_since: float | None = None
        self.records_seen = 0
        self._subscriber: Any = None

    def register(self, broker: KafkaBroker) -> None:
        self._subscriber = broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,  # we decode and validate ourselves, so a bad body reaches the DLQ
            max_poll_interval_ms=300_000,
            title=f"{self._service}:consume",
            description=f"The {self._service} service's consumer group ({self.group_id}).",
        )(self.on_message)

    async def on_message(self, msg: KafkaMessage) -> None:
        if self._draining:
            return  # shutting down: leave it uncommitted; the next owner of the partition gets it
        record: ConsumerRecord[bytes, bytes] = msg.raw_message
        self._idle.clear()
        self.in_flight_since = time.monotonic()
        self.records_seen += 1
        started = time.perf_counter()
        try:
            try:
                committed = await self._process(record)
            except Exception:
                log.exception("unexpected consumer failure; the record will be fetched again")
                await asyncio.sleep(self._settings.retry_backoff_max_seconds)
                committed = False
            if committed:
                await msg.ack()
                HANDLER_SECONDS.labels(self._service, record.topic).observe(time.perf_counter() - started)
            else:
                await msg.nack()
        finally:
            self.in_flight_since = None
            self._idle.set()
            structlog.contextvars.unbind_contextvars("event_id", "event_type", "trace_id")

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """Handle one record to completion. False means: do not commit, fetch it again."""
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
            return await self._dead_letter(record, str(exc), attempts=1)
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
            except TRANSIENT_DB_ERRORS as exc:
                # The database is away; the record is fine. Wait and try again, without limit, but
                # give the poll loop a chance to run (heartbeats, shutdown) between tries.
                outage += 1
                HANDLER_RETRIES.labels(self._service, record.topic, "outage").inc()
                delay = self._backoff(outage)
                log.warning("database unavailable, retrying", error=repr(exc)[:200], retry_in=delay)
                await asyncio.sleep(delay)
                if self._draining:
                    return False
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"[:500]
                if attempt >= self._settings.max_attempts:
                    log.error("handler failed, dead-lettering", attempts=attempt, reason=reason)
                    return await self._dead_letter(record, reason, attempts=attempt)
                HANDLER_RETRIES.labels(self._service, record.topic, "error").inc()
                log.warning("handler failed, retrying", attempt=attempt, reason=reason)
                await asyncio.sleep(self._backoff(attempt))

    async def _handle(self, envelope: Envelope[Event]) -> bool:
        """Run the handler in one transaction with the inbox claim. True if it was a duplicate."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, self.group_id, envelope.source, envelope.id):
                return True
            uow = UnitOfWork(conn, self._source, envelope.trace.child(), cause=envelope)
            await self._handlers[envelope.type](envelope.data, uow)
        return False

    def _backoff(self, attempt: int) -> float:
        base = self._settings.retry_backoff_seconds * (2 ** (attempt - 1))
        return float(min(base, self._settings.retry_backoff_max_seconds))

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str, attempts: int) -> bool:
        headers = [
            *record.headers,
            ("dlq_reason", reason.encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_source_partition", str(record.partition).encode()),
            ("dlq_source_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self.group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        try:
            await self._producer.send_and_wait(
                dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
            )
        except Exception as exc:  # noqa: BLE001 - never commit a record we could not park
            log.error("dead-letter publish failed; the record will be fetched again", error=repr(exc)[:300])
            await asyncio.sleep(self._settings.retry_backoff_max_seconds)
            return False
        DLQ_PUBLISHED.labels(self._service, record.topic).inc()
        EVENTS_CONSUMED.labels(self._service, record.topic, "dead_lettered").inc()
        return True

    async def update_lag(self) -> None:
        """Export how far behind the end of each assigned partition this consumer is."""
        consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await asyncio.wait_for(consumer.position(tp), timeout=5)
            CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(max(highwater - position, 0))

    async def drain(self, timeout: float) -> None:
        """Stop taking new records and wait for the one in flight to finish."""
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.warning("in-flight record did not finish before shutdown; it will be redelivered")
