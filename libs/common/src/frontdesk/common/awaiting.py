"""Events that arrive before their clinic's configuration wait for it, then are handled.

A handler that cannot act without the clinic's configuration asks for it with
`clinics.require_clinic`, which raises UnknownClinic for a clinic not configured yet. Retrying would
hold up every other clinic of the partition and then dead-letter the event; instead `parking` keeps
the event in `awaiting_clinic`, in the handler's own transaction (so it counts as consumed: a repeat
is dropped by the inbox), and returns. When the clinic's configuration is projected, `waking` sets a
durable timer (`awaiting-clinic:<clinic_id>`) that hands the waiting events to their handlers, oldest
first, each in a savepoint of its own, as if they had just arrived. A handler that fails there fails
its event only, as a live record's would: the clinic's other waiting events are handled now, and the
failed one is tried again after a backoff (the timer is set for it), up to `max_attempts`, then goes
to its topic's dead-letter topic with the reason (its inbox row forgotten, so that a replay of the
dead letter is handled). One that no longer decodes (its contract changed, or its type left the
registry, or this service's handlers, while it waited) is dead-lettered at once, as a malformed
record is. A database outage is no attempt: it fails the whole timer, which is tried again
(timers.py) until the database is back. Later waiting events of the clinic do not wait for a failed
one's retry: the clinic's live events already overtake all of them once it is configured.

What waits is counted every few seconds (`report`: frontdesk_events_awaiting_clinic and the age of the
oldest), so an event for a clinic id that is never configured is seen.

Parking and projecting take the same transaction-scoped lock on the clinic, so a configuration
committed while an event was being parked is seen by one of the two, which sets the timer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from .clinics import UnknownClinic
from .cloudevents import (
    Envelope,
    MalformedEvent,
    OutgoingRecord,
    TraceContext,
    attributes,
    echo,
    inbox_source,
    violation,
)
from .consumer import Handler
from .contracts import ClinicConfigured, Event, dlq_topic, spec_for
from .db import TRANSIENT_DB_ERRORS, Connection
from .deadletter import REASON_CHARS, Origin, dead_letter
from .logging import get_logger
from .metrics import DLQ_PUBLISHED, EVENTS_AWAITING_CLINIC, EVENTS_CONSUMED, HANDLER_RETRIES, OLDEST_AWAITING_CLINIC
from .rows import from_row
from .settings import ServiceSettings
from .timer_payloads import AwaitingClinicTimer
from .timers import Timer, TimerHandler
from .uow import UnitOfWork, transaction

log = get_logger(__name__)

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('awaiting-clinic:' || $1, 0))"


@dataclass(frozen=True)
class Waiting:
    seq: int
    clinic_id: str
    event_type: str
    event_source: str
    event_id: str
    event_time: datetime
    traceparent: str
    topic: str | None
    data: dict[str, Any]
    attempts: int  # failed hand-overs so far

    def envelope(self) -> Envelope[Event]:
        """The event as it was consumed, or MalformedEvent if it no longer decodes (its type left
        the registry, or its contract changed, while it waited)."""
        spec = spec_for(self.event_type)
        if spec is None:
            raise MalformedEvent(f"event type {echo(self.event_type)} is no longer in the registry")
        try:
            data = spec.model.model_validate(self.data)
        except ValidationError as exc:
            raise violation(self.event_type, exc) from None
        return Envelope(
            self.event_id, self.event_source, self.event_type, self.event_time, data, self.trace, self.topic
        )

    @property
    def read_from(self) -> str:
        """The topic it was consumed from."""
        return self.topic or self.event_type

    @property
    def trace(self) -> TraceContext:
        return TraceContext.parse(self.traceparent) or TraceContext.new()

    def record(self) -> OutgoingRecord:
        """The event as a record again, as the consumer decoded it (for its dead letter): from what
        is stored alone, so that one that no longer decodes is dead-lettered too."""
        spec = spec_for(self.event_type)
        key = str(self.data.get(spec.model.key_field, "")) if spec is not None else ""
        headers = attributes(
            self.event_type,
            spec.model.version if spec is not None else None,
            source=self.event_source,
            event_id=self.event_id,
            time=self.event_time,
            trace=self.trace,
        )
        return OutgoingRecord(self.read_from, key.encode(), json.dumps(self.data).encode(), headers)


def wrap(handlers: Mapping[type[Event], Handler]) -> dict[type[Event], Handler]:
    """The consumer's handlers: clinic.configured's wakes what waits for the clinic, every other one
    parks an event whose clinic is not configured yet."""
    return {model: waking(h) if model is ClinicConfigured else parking(h) for model, h in handlers.items()}


def parking(handler: Handler) -> Handler:
    async def handle(event: Event, uow: UnitOfWork) -> None:
        try:
            await handler(event, uow)
        except UnknownClinic as unknown:
            await park(uow, unknown.clinic_id)

    return handle


def waking(handler: Handler) -> Handler:
    async def handle(event: ClinicConfigured, uow: UnitOfWork) -> None:
        await handler(event, uow)
        await wake(uow, event.clinic_id)

    return handle


async def park(uow: UnitOfWork, clinic_id: str) -> None:
    """Keep the event being handled until `clinic_id` is configured."""
    cause = uow.cause
    if cause is None:
        raise UnknownClinic(clinic_id)  # not an event: nothing to keep
    await uow.conn.execute(_LOCK, clinic_id)
    await uow.conn.execute(
        "INSERT INTO awaiting_clinic (clinic_id, event_type, event_source, event_id, event_time, traceparent,"
        " topic, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_source, event_id) DO NOTHING",
        clinic_id,
        cause.type,
        cause.source,
        cause.id,
        cause.time,
        cause.trace.header(),
        cause.topic,
        cause.data.model_dump(mode="json"),
    )
    log.warning("event waits for its clinic's configuration", clinic_id=clinic_id, event_type=cause.type)
    if await uow.conn.fetchval("SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic_id = $1)", clinic_id):
        await _wake_now(uow, clinic_id)  # configured while this event was handled


async def wake(uow: UnitOfWork, clinic_id: str) -> None:
    """The clinic is configured now: have what waits for it handled."""
    await uow.conn.execute(_LOCK, clinic_id)
    if await uow.conn.fetchval("SELECT EXISTS (SELECT 1 FROM awaiting_clinic WHERE clinic_id = $1)", clinic_id):
        await _wake_now(uow, clinic_id)


async def _wake_now(uow: UnitOfWork, clinic_id: str) -> None:
    await uow.set_timer(f"awaiting-clinic:{clinic_id}", datetime.now(UTC), AwaitingClinicTimer(clinic_id=clinic_id))


def replayer(handlers: Mapping[type[Event], Handler], settings: ServiceSettings) -> TimerHandler:
    """The timer handler that hands a clinic's waiting events to `handlers` (the wrapped ones)."""
    by_type = {model.event_type: handler for model, handler in handlers.items()}

    async def replay(timer: Timer[AwaitingClinicTimer], uow: UnitOfWork) -> None:
        clinic_id = timer.payload.clinic_id
        # Only what waits now: an event that must wait again (parked anew) waits for the next configuration.
        last = await uow.conn.fetchval("SELECT max(seq) FROM awaiting_clinic WHERE clinic_id = $1", clinic_id)
        after = 0
        while last is not None and (waiting := await _next(uow.conn, clinic_id, after, last)) is not None:
            after = waiting.seq
            await _hand_over(uow, waiting, by_type.get(waiting.event_type), settings)
        # A failed one is tried again when its backoff ends (this timer is deleted: the new one stands).
        retry_at = await uow.conn.fetchval("SELECT min(retry_at) FROM awaiting_clinic WHERE clinic_id = $1", clinic_id)
        if retry_at is not None:
            await uow.set_timer(timer.key, retry_at, timer.payload)

    return replay


async def _hand_over(uow: UnitOfWork, waiting: Waiting, handler: Handler | None, settings: ServiceSettings) -> None:
    """Handle one waiting event in a savepoint of its own, as the consumer would have: a failure rolls
    back only this event, which is tried again later or dead-lettered; the others are handled now."""
    with structlog.contextvars.bound_contextvars(clinic_id=waiting.clinic_id, event_type=waiting.event_type):
        await _hand_over_one(uow, waiting, handler, settings)


async def _hand_over_one(uow: UnitOfWork, waiting: Waiting, handler: Handler | None, settings: ServiceSettings) -> None:
    try:
        envelope = waiting.envelope()
        if handler is None:
            raise MalformedEvent(f"this service no longer handles {waiting.event_type}")
        async with transaction(uow.conn, uow.source, envelope.trace.child(), envelope) as handling:
            await uow.conn.execute("DELETE FROM awaiting_clinic WHERE seq = $1", waiting.seq)
            await handler(envelope.data, handling)
    except TRANSIENT_DB_ERRORS:
        raise  # the database is away, not the event's fault: the timer is tried again whole, no attempt counted
    except MalformedEvent as exc:  # no retry can hand it over
        await _dead_letter(uow, waiting, waiting.attempts + 1, str(exc), settings)
        return
    except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
        await _failed(uow, waiting, f"{type(exc).__name__}: {exc}"[:REASON_CHARS], settings)
        return
    uow.wrote_events = uow.wrote_events or handling.wrote_events  # its relay is woken after the commit
    log.info("waiting event handled")


async def _failed(uow: UnitOfWork, waiting: Waiting, reason: str, settings: ServiceSettings) -> None:
    """A waiting event's handler failed: try it again after a backoff, or dead-letter it once its
    attempts are spent."""
    attempts = waiting.attempts + 1
    if attempts >= settings.max_attempts:
        await _dead_letter(uow, waiting, attempts, reason, settings)
        return
    await uow.conn.execute(
        "UPDATE awaiting_clinic SET attempts = $2, retry_at = now() + make_interval(secs => $3) WHERE seq = $1",
        waiting.seq,
        attempts,
        settings.retry_backoff(attempts),
    )
    HANDLER_RETRIES.labels(settings.service, waiting.read_from, "error").inc()
    log.warning("waiting event failed, retrying", attempt=attempts, reason=reason)


async def _dead_letter(
    uow: UnitOfWork, waiting: Waiting, attempts: int, reason: str, settings: ServiceSettings
) -> None:
    """Put a waiting event on its topic's dead-letter topic, through the outbox (it leaves the table
    only with its dead letter), and forget its inbox row, so that the dead letter replayed is handled,
    not dropped as a repeat."""
    log.error("waiting event failed, dead-lettering", attempts=attempts, reason=reason)
    record = waiting.record()
    # Its partition and offset are not kept while it waits: -1, and the copy is the event as decoded.
    origin = Origin(record.topic, -1, -1, settings.consumer_group, attempts)
    letter = dead_letter(record.key, record.value, record.headers, f"after waiting for its clinic: {reason}", origin)
    uow.publish(OutgoingRecord(dlq_topic(record.topic), letter.key or b"", letter.value or b"", letter.headers))
    await uow.conn.execute("DELETE FROM awaiting_clinic WHERE seq = $1", waiting.seq)
    await uow.conn.execute(
        "DELETE FROM inbox WHERE consumer = $1 AND event_source = $2 AND event_id = $3",
        settings.consumer_group,
        inbox_source(waiting.event_source, waiting.topic),
        waiting.event_id,
    )
    DLQ_PUBLISHED.labels(settings.service, record.topic).inc()
    EVENTS_CONSUMED.labels(settings.service, record.topic, "dead_lettered").inc()


async def report(conn: Connection, service: str) -> None:
    """Set the gauges of what waits: an event for a clinic that is never configured (a producer's
    typo) would otherwise wait unseen (the FrontdeskEventsAwaitingClinic alert)."""
    row = await conn.fetchrow(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(parked_at)), 0) FROM awaiting_clinic"
    )
    assert row is not None  # an aggregate has one row
    waiting, oldest = row
    EVENTS_AWAITING_CLINIC.labels(service).set(waiting)
    OLDEST_AWAITING_CLINIC.labels(service).set(float(oldest))


async def _next(conn: Connection, clinic_id: str, after: int, last: int) -> Waiting | None:
    """The clinic's oldest waiting event after `after` (up to `last`) not in a backoff, locked."""
    row = await conn.fetchrow(
        "SELECT seq, clinic_id, event_type, event_source, event_id, event_time, traceparent, topic, data, attempts"
        " FROM awaiting_clinic WHERE clinic_id = $1 AND seq > $2 AND seq <= $3"
        " AND (retry_at IS NULL OR retry_at <= now()) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        clinic_id,
        after,
        last,
    )
    return None if row is None else from_row(Waiting, row)
