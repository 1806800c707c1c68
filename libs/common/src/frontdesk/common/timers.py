"""Durable timers: claimed with SKIP LOCKED, run and deleted in one transaction.

A timer fires once: its handler's effects and the timer's deletion commit together. Its handler gets
the payload parsed into its kind's model (timer_payloads.py). If the handler raises, or the payload no
longer parses, the timer is retried with backoff; after `max_attempts` it is parked (dead_at set) and
counted, never silently dropped. A handler may set a timer with the key of the one being fired: the
fired one is already deleted, so the new one stands.

The worker fires every due timer before it sleeps, then sleeps until the next one falls due (at
least TURN_WAIT, at most the poll interval). Under a steady flow (a ring timeout or a vendor's
answer deadline for many calls a second) timers so fire as they fall due: neither late behind a
backlog nor in one burst per poll. It fires on `concurrency` connections at once (by
default CONCURRENCY), because each timer mostly waits: on its round trips, or on a provider's answer
(followup's sends). Those loops take turns to look for a due timer: the one whose turn it is polls
(and sleeps until the next one falls due), claims one, and hands the turn on before running it, so
eight loops neither poll eight times nor race each other for the same timer; the timers they are
running are left out of the poll. Replicas are kept apart by SKIP LOCKED. How late each fired is:
frontdesk_timer_lateness_seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from pydantic import ValidationError

from . import tracing
from .cloudevents import TraceContext
from .db import TRANSIENT_DB_ERRORS, Connection
from .logging import get_logger
from .metrics import TIMER_LATENESS, TIMERS_FAILED, TIMERS_FIRED
from .timer_payloads import TimerPayload
from .uow import UnitOfWork, transaction

log = get_logger(__name__)
MIN_WAIT = 0.025  # seconds: the shortest sleep, so a steady flow of timers is fired a few at a time
# The shortest sleep of the loop whose turn it is: the only one polling, so it may wake as each falls due.
TURN_WAIT = 0.002
CONCURRENCY = 2  # connections firing timers at once, per replica, unless a service asks for more
# How many timers are due now (at most $2) and in how many seconds the next one falls due, leaving
# out those this worker is running ($3: claimed, so deleted, but not yet committed).
_DUE_SQL = (
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM timers WHERE due_at <= now() AND dead_at IS NULL"
    " AND kind = ANY($1::text[]) AND id <> ALL($3::bigint[]) LIMIT $2) d)::int,"
    " extract(epoch FROM (SELECT min(due_at) FROM timers WHERE dead_at IS NULL AND kind = ANY($1::text[])"
    " AND id <> ALL($3::bigint[])) - now())"
)


P = TypeVar("P", bound=TimerPayload)


@dataclass(frozen=True)
class Timer(Generic[P]):
    key: str
    kind: str
    due_at: datetime
    payload: P
    attempts: int


# A handler takes the Timer of its kind's payload model (Any here: the mapping pairs them).
TimerHandler = Callable[[Any, UnitOfWork], Awaitable[None]]


class UnreadablePayload(Exception):
    """A stored payload that does not parse into its kind's model. Its message names the fields and
    what is wrong with them, never their values (a payload may hold patient data)."""

    def __init__(self, kind: str, error: ValidationError) -> None:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(payload)'}: {e['type']}" for e in error.errors())
        super().__init__(f"the payload of a {kind} timer does not parse: {problems}")


def parse_payload(model: type[P], payload: Any) -> P:
    """`payload` (a stored row's, JSON-decoded) as `model`, or UnreadablePayload."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise UnreadablePayload(model.kind, exc) from None


class TimerWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        service: str,
        handlers: Mapping[type[TimerPayload], TimerHandler],
        *,
        poll_seconds: float = 0.5,
        max_attempts: int = 5,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._pool = pool
        self._service = service
        self._source = f"frontdesk/{service}"
        self._kinds = {model.kind: (model, handler) for model, handler in handlers.items()}  # kind -> both
        self._poll_seconds = poll_seconds
        self._max_attempts = max_attempts
        self._concurrency = concurrency
        self._stopping = asyncio.Event()
        self._turn = asyncio.Lock()  # held by the loop that looks for the next due timer
        self._running: set[int] = set()  # ids of the timers this worker's loops have claimed

    async def _poll(self, conn: Connection, limit: int, shortest: float = MIN_WAIT) -> tuple[int, float]:
        """How many timers are due (at most `limit`), and how long to sleep if none is: until the next
        one falls due, between `shortest` and the poll interval. One round trip, no transaction."""
        row = await conn.fetchrow(_DUE_SQL, list(self._kinds), limit, list(self._running))
        assert row is not None
        due, next_due_in = row
        if next_due_in is None:
            return due, self._poll_seconds
        # A timer due now but skipped (another replica holds it) also waits `shortest`.
        return due, min(max(float(next_due_in), shortest), self._poll_seconds)

    async def _fire_one(self, conn: Connection, claimed: Callable[[], None] = lambda: None) -> int | None:
        """Claim the next due timer by deleting it, run its handler, commit both; None if none is due.
        `claimed` is called once a timer is claimed, before its handler runs.

        A handler that raises rolls the transaction back, so the timer is back, untouched; its failure
        is then recorded in a transaction of its own."""
        row = None
        try:
            async with transaction(conn, self._source, TraceContext.new()) as uow:
                row = await conn.fetchrow(
                    "DELETE FROM timers WHERE id = (SELECT id FROM timers"
                    " WHERE due_at <= now() AND dead_at IS NULL AND kind = ANY($1::text[])"
                    " ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
                    " RETURNING id, timer_key, kind, due_at, payload, traceparent, attempts",
                    list(self._kinds),
                )
                if row is None:
                    return None
                self._running.add(row["id"])
                claimed()
                model, handler = self._kinds[row["kind"]]
                payload = parse_payload(model, row["payload"])
                timer = Timer(row["timer_key"], row["kind"], row["due_at"], payload, row["attempts"])
                TIMER_LATENESS.labels(self._service, timer.kind).observe(
                    max((datetime.now(UTC) - timer.due_at).total_seconds(), 0.0)
                )
                # The timer continues the trace of the work that set it, known once it is claimed.
                parent = TraceContext.parse(row["traceparent"])
                with tracing.span(f"timer {timer.kind}", parent, attributes={"frontdesk.timer.kind": timer.kind}) as t:
                    uow.trace = t
                    structlog.contextvars.bind_contextvars(trace_id=t.trace_id, timer=timer.key)
                    await handler(timer, uow)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            if row is None:
                raise  # the claim itself failed: not a handler's failure
            attempts = row["attempts"] + 1
            if isinstance(exc, UnreadablePayload):  # no traceback: the validation error would show the values
                log.error("timer payload does not parse", kind=row["kind"], attempt=attempts, error=str(exc))
            else:
                log.exception("timer handler failed", kind=row["kind"], attempt=attempts)
            await self._record_failure(conn, row["id"], attempts, f"{type(exc).__name__}: {exc}"[:500])
            TIMERS_FAILED.labels(self._service, row["kind"]).inc()
            return 0
        finally:
            structlog.contextvars.unbind_contextvars("trace_id", "timer")
            if row is not None:
                self._running.discard(row["id"])
        TIMERS_FIRED.labels(self._service, timer.kind).inc()
        return 1

    async def _record_failure(self, conn: Connection, timer_id: int, attempts: int, error: str) -> None:
        if attempts >= self._max_attempts:
            await conn.execute(
                "UPDATE timers SET attempts = $2, last_error = $3, dead_at = now() WHERE id = $1",
                timer_id,
                attempts,
                error,
            )
        else:
            await conn.execute(
                "UPDATE timers SET attempts = $2, last_error = $3,"
                " due_at = now() + make_interval(secs => $4) WHERE id = $1",
                timer_id,
                attempts,
                error,
                float(min(2**attempts, 300)),
            )

    async def run(self) -> None:
        await asyncio.gather(*(self._fire_until_stopped() for _ in range(self._concurrency)))

    async def _fire_until_stopped(self) -> None:
        # One connection kept from timer to timer (no acquire and release per timer). A failure hands
        # it back: asyncpg rolls back what was left open, or replaces a broken connection.
        backoff = 0.2
        conn: PoolConnectionProxy[asyncpg.Record] | None = None
        while not self._stopping.is_set():
            try:
                conn = conn or await self._pool.acquire()
                await self._take_turn(conn)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - outages are retried
                log.warning("timer worker interrupted", error=repr(exc)[:300], retry_in=backoff)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await self._pool.release(conn)
                    conn = None
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        if conn is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(conn)

    async def _take_turn(self, conn: Connection) -> None:
        """Wait for the turn, look for a due timer until there is one (sleeping in between), claim it,
        hand the turn on and run it. A claim that finds nothing (another replica was first) keeps the
        turn for MIN_WAIT."""
        handed_on = False

        def hand_on() -> None:
            nonlocal handed_on
            if not handed_on:
                handed_on = True
                self._turn.release()

        await self._turn.acquire()
        try:
            while not self._stopping.is_set():
                due, wait = await self._poll(conn, 1, TURN_WAIT)
                if due and await self._fire_one(conn, hand_on) is not None:
                    return
                await self._sleep(MIN_WAIT if due else wait)
        finally:
            hand_on()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def stop(self) -> None:
        self._stopping.set()
