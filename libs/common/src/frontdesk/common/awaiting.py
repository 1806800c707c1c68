"""Events that arrive before their clinic's configuration wait for it, then are handled.

A handler that cannot act without the clinic's configuration asks for it with
`clinics.require_clinic`, which raises UnknownClinic for a clinic not configured yet. Retrying would
hold up every other clinic of the partition and then dead-letter the event; instead `parking` keeps
the event in `awaiting_clinic`, in the handler's own transaction (so it counts as consumed: a repeat
is dropped by the inbox), and returns. When the clinic's configuration is projected, `waking` sets a
durable timer (`awaiting-clinic:<clinic_id>`) that hands the waiting events to their handlers, oldest
first, each in a savepoint of its own, as if they had just arrived; a handler that fails there fails
the timer, which is retried, then parked (timers.py): never lost.

What waits is counted every few seconds (`report`: frontdesk_events_awaiting_clinic and the age of the
oldest), so an event for a clinic id that is never configured is seen.

Parking and projecting take the same transaction-scoped lock on the clinic, so a configuration
committed while an event was being parked is seen by one of the two, which sets the timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .clinics import UnknownClinic
from .cloudevents import Envelope, TraceContext
from .consumer import Handler
from .contracts import ClinicConfigured, Event, spec_for
from .db import Connection
from .logging import get_logger
from .metrics import EVENTS_AWAITING_CLINIC, OLDEST_AWAITING_CLINIC
from .rows import from_row
from .timer_payloads import AwaitingClinicTimer
from .timers import Timer, TimerHandler
from .uow import UnitOfWork, transaction

log = get_logger(__name__)

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('awaiting-clinic:' || $1, 0))"


@dataclass(frozen=True)
class Waiting:
    seq: int
    event_type: str
    event_source: str
    event_id: str
    event_time: datetime
    traceparent: str
    topic: str | None
    data: dict[str, Any]

    def envelope(self) -> Envelope[Event] | None:
        spec = spec_for(self.event_type)
        if spec is None:
            return None
        trace = TraceContext.parse(self.traceparent) or TraceContext.new()
        data = spec.model.model_validate(self.data)
        return Envelope(self.event_id, self.event_source, self.event_type, self.event_time, data, trace, self.topic)


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


def replayer(handlers: Mapping[type[Event], Handler]) -> TimerHandler:
    """The timer handler that hands a clinic's waiting events to `handlers` (the wrapped ones)."""
    by_type = {model.event_type: handler for model, handler in handlers.items()}

    async def replay(timer: Timer[AwaitingClinicTimer], uow: UnitOfWork) -> None:
        clinic_id = timer.payload.clinic_id
        # Only what waits now: an event that must wait again (parked anew) waits for the next configuration.
        last = await uow.conn.fetchval("SELECT max(seq) FROM awaiting_clinic WHERE clinic_id = $1", clinic_id)
        while last is not None and (waiting := await _take(uow.conn, clinic_id, last)) is not None:
            envelope = waiting.envelope()
            handler = by_type.get(waiting.event_type)
            if envelope is None or handler is None:
                log.error("a waiting event no handler takes now", event_type=waiting.event_type, clinic_id=clinic_id)
                continue
            async with transaction(uow.conn, uow.source, envelope.trace.child(), envelope) as handling:
                await handler(envelope.data, handling)
            log.info("waiting event handled", clinic_id=clinic_id, event_type=waiting.event_type)

    return replay


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


async def _take(conn: Connection, clinic_id: str, last: int) -> Waiting | None:
    row = await conn.fetchrow(
        "DELETE FROM awaiting_clinic WHERE seq = (SELECT seq FROM awaiting_clinic WHERE clinic_id = $1"
        " AND seq <= $2 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING seq, event_type, event_source, event_id, event_time, traceparent, topic, data",
        clinic_id,
        last,
    )
    return None if row is None else from_row(Waiting, row)
