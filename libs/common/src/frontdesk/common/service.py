"""The runtime every service shares: pool, migrations, consumer, outbox relay, timers, HTTP.

A service is described by a `ServiceDefinition` (its name, event handlers, timer handlers,
migrations and HTTP routers); `ServiceRuntime` wires the plumbing around it and `run_service`
serves it with uvicorn on two ports: the public one (patients, webhooks, API clients) and the
operations one (probes, Prometheus, OpenAPI). HTTP and Kafka live in one process: the consumer
starts in the FastAPI lifespan. SIGTERM (uvicorn's graceful shutdown) stops fetching, lets the records in flight finish
and commit, flushes the outbox, then closes the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from . import awaiting, ratelimit, tracing
from .api import error_responses
from .audit import AuditTrail
from .auth import CurrentPrincipal, TokenVerifier, authenticate
from .batches import BatchConsumer, BatchScope
from .bodylimit import BodyLimit
from .clinics import project_clinic
from .cloudevents import TraceContext
from .consumer import EventConsumer, Handler
from .contracts import ClinicConfigured, Event
from .db import TRANSIENT_DB_ERRORS, create_pool, migrate
from .jsonbodies import UnicodeBodies
from .kafka import make_producer
from .logging import configure_logging, get_logger
from .outbox import OutboxRelay
from .provision import check_append_only
from .settings import ServiceSettings, is_loopback_stack
from .timer_payloads import TIMER_PAYLOADS, AwaitingClinicTimer, TimerPayload
from .timers import CONCURRENCY as TIMER_CONCURRENCY
from .timers import TimerHandler, TimerWorker
from .uow import UnitOfWork, transaction

log = get_logger(__name__)
INBOX_RETENTION_DAYS = 35
AUDIT_RECHECK_SECONDS = 30  # readiness looks at the audit trail's privileges again this often


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    handlers: Mapping[type[Event], Handler]
    migrations: Path | None = None
    # Topics named at run time (regexes, e.g. every vendor's vendor.<id>.events) the consumer reads
    # besides the shared topics of its handlers' event types; a new match is seen within ~10 s.
    topic_patterns: Sequence[str] = ()
    timer_handlers: Mapping[type[TimerPayload], TimerHandler] = field(default_factory=dict)
    # Timers fired at once per replica, each on a connection of its own. More for timers that mostly
    # wait on someone else (followup's sends wait on the SMS provider's answer); the connections beyond
    # the default's come on top of the pool (db_pool_size), so the consumer's share stays what it was.
    timer_concurrency: int = TIMER_CONCURRENCY
    # Every route of `routers` requires a bearer token (frontdesk.common.auth). `public_routers` are
    # for callers without one, whose requests carry their own proof: signed webhooks, signed links.
    routers: Sequence[APIRouter] = ()
    public_routers: Sequence[APIRouter] = ()
    # Long-running parts besides the consumer (e.g. phone-bridge's SIP socket): each started once the
    # consumer and the relay run, cancelled at shutdown before the producer is flushed.
    tasks: Sequence[Callable[[ServiceRuntime], Awaitable[None]]] = ()
    # A pure projector (handlers write its own read model only) sets this: its consumer handles a
    # partition's queued records in one transaction, this scope around them (batches.py).
    batch_scope: BatchScope | None = None

    def __post_init__(self) -> None:
        # A timer kind that is not in the registry would have no single home and spelling.
        unregistered = [m.__name__ for m in self.timer_handlers if TIMER_PAYLOADS.get(m.kind) is not m]
        if unregistered:
            raise ValueError(f"timer payloads not in timer_payloads.ALL_TIMER_PAYLOADS: {unregistered}")


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings | None = None) -> None:
        self.definition = definition
        self.settings = settings or ServiceSettings.for_service(definition.name)
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.consumer: EventConsumer | None = None
        self.relay: OutboxRelay | None = None
        self.timers: TimerWorker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False
        # In production a trail the service could rewrite keeps it out of rotation (readiness fails).
        self.audit_append_only_required = not is_loopback_stack(self.settings)
        self._audit_append_only: tuple[float, bool] | None = None  # (checked at, result)

    @property
    def source(self) -> str:
        return f"frontdesk/{self.definition.name}"

    @property
    def pool_size(self) -> int:
        extra_timers = self.definition.timer_concurrency - TIMER_CONCURRENCY if self.definition.timer_handlers else 0
        return self.settings.db_pool_size + max(0, extra_timers)

    async def _connect_database(self) -> asyncpg.Pool:
        # At start-up the database may still be coming up (local stack, a pod next to its DB).
        deadline = time.monotonic() + 60
        delay = 0.2
        while True:
            try:
                return await create_pool(self.settings.database_url, self.pool_size)
            except TRANSIENT_DB_ERRORS as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("database not reachable yet", error=repr(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)

    async def start(self) -> None:
        s = self.settings
        tracing.configure(s.service)
        self.pool = await self._connect_database()
        await migrate(self.pool, self.definition.migrations)
        self._audit_append_only = (time.monotonic(), await check_append_only(self.pool, s.service))
        # The relay sends a whole batch and then waits for its acknowledgements: nothing more would
        # join a batch during a linger, which would only delay every event (and the next batch).
        self.producer = make_producer(s.kafka_bootstrap_servers, client_id=f"{s.service}-producer", linger_ms=0)
        await self.producer.start()
        # An event whose clinic is not configured yet waits for it (awaiting.py), on a timer of its own.
        own: dict[type[Event], Handler] = {ClinicConfigured: project_clinic, **self.definition.handlers}
        handlers = awaiting.wrap(own)
        timer_handlers: dict[type[TimerPayload], TimerHandler] = {
            **self.definition.timer_handlers,
            AwaitingClinicTimer: awaiting.replayer(handlers, s),
        }
        patterns, scope = self.definition.topic_patterns, self.definition.batch_scope
        if scope is None:
            self.consumer = EventConsumer(s, self.pool, self.producer, handlers, patterns)
        else:
            self.consumer = BatchConsumer(s, self.pool, self.producer, handlers, scope, patterns)
        await self.consumer.start()
        self.relay = OutboxRelay(
            self.pool,
            self.producer,
            s.service,
            source=self.source,
            batch_size=s.outbox_batch_size,
            poll_seconds=s.outbox_poll_seconds,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self.timers = TimerWorker(
            self.pool,
            s.service,
            timer_handlers,
            poll_seconds=s.timer_poll_seconds,
            concurrency=self.definition.timer_concurrency,
        )
        self._tasks.append(asyncio.create_task(self.timers.run(), name="timers"))
        for run in self.definition.tasks:
            self._tasks.append(asyncio.create_task(run(self), name="service-task"))  # type: ignore[arg-type]
        self._tasks.append(asyncio.create_task(self._report_lag(), name="lag"))
        self._tasks.append(asyncio.create_task(self._prune_inbox(), name="inbox-pruning"))
        # What exists now (code, settings, clients) lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise walk its ~100k objects and stall the event
        # loop for 60-90 ms each on our 2-core machine (timed with gc.callbacks under the router bench).
        gc.collect()
        gc.freeze()
        self.started = True
        log.info("service started", topics=self.consumer.topics, group=self.consumer.group_id)

    @asynccontextmanager
    async def unit_of_work(self, traceparent: str | None = None) -> AsyncIterator[UnitOfWork]:
        """One transaction for a command that arrives over HTTP: its writes, the events it emits and
        the timers it sets commit together, exactly as for an event handler."""
        assert self.pool is not None
        with tracing.span("command", TraceContext.parse(traceparent), SpanKind.SERVER) as trace:
            async with self.pool.acquire() as conn, transaction(conn, self.source, trace) as uow:
                yield uow

    async def _prune_inbox(self) -> None:
        """Forget processed event ids once no redelivery can bring them back: older than the longest
        retention (dead-letter topics keep records 28 days, so a replay is still deduplicated)."""
        while True:
            with contextlib.suppress(Exception):
                assert self.pool is not None
                while (
                    await self.pool.execute(
                        "DELETE FROM inbox WHERE ctid IN (SELECT ctid FROM inbox"
                        " WHERE processed_at < now() - make_interval(days => $1) LIMIT 5000)",
                        INBOX_RETENTION_DAYS,
                    )
                ) != "DELETE 0":
                    pass
                await self.pool.execute(ratelimit.PRUNE)
            await asyncio.sleep(3600)

    async def _report_lag(self) -> None:
        """Every few seconds: the consumer's lag, and the events waiting for their clinic's configuration."""
        while True:
            await asyncio.sleep(5)
            with contextlib.suppress(Exception):
                assert self.consumer is not None
                await self.consumer.update_lag()
            with contextlib.suppress(Exception):
                assert self.pool is not None
                async with self.pool.acquire() as conn:
                    await awaiting.report(conn, self.definition.name)

    async def stop(self) -> None:
        self.started = False
        timeout = self.settings.shutdown_timeout_seconds
        if self.consumer is not None:
            await self.consumer.stop(timeout / 2)
        if self.timers is not None:
            self.timers.stop()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            if task.get_name() in ("lag", "inbox-pruning", "service-task"):
                task.cancel()
        _, pending = await asyncio.wait(self._tasks, timeout=timeout / 2) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        if self.producer is not None:
            await self.producer.stop()  # flushes anything still batched
        if self.pool is not None:
            await self.pool.close()
        tracing.shutdown()  # exports the spans still batched
        log.info("service stopped")

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"started": self.started}
        checks["database"] = await self._database_answers(timeout=2)
        checks["kafka"] = bool(self.consumer is not None and await self.consumer.ping(timeout=2))
        if self.audit_append_only_required:
            checks["audit_append_only"] = await self._audit_is_append_only()
        return checks

    async def _audit_is_append_only(self) -> bool:
        """The start-up check's answer, asked again every AUDIT_RECHECK_SECONDS (a grant can change)."""
        last = self._audit_append_only
        if self.pool is not None and (last is None or time.monotonic() - last[0] > AUDIT_RECHECK_SECONDS):
            with contextlib.suppress(Exception):  # an unreachable database is the database check's to report
                result = await asyncio.wait_for(check_append_only(self.pool, self.settings.service), 2)
                self._audit_append_only = last = (time.monotonic(), result)
        return bool(last and last[1])

    async def _database_answers(self, timeout: float) -> bool:
        """SELECT 1 within `timeout`. The probe answers on time even when the server hangs (SIGSTOP,
        a dead network path): cancelling a query makes asyncpg wait for the server, so the check runs
        as its own task and is abandoned, not awaited, when it is late."""
        if self.pool is None:
            return False
        check = asyncio.ensure_future(self.pool.fetchval("SELECT 1"))
        done, _ = await asyncio.wait({check}, timeout=timeout)
        if check not in done:
            check.cancel()
            check.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieve, never log
            return False
        return check.exception() is None

    def liveness(self) -> dict[str, Any]:
        """Checks nothing external: only that the process is not wedged on one record."""
        since = self.consumer.in_flight_since if self.consumer else None
        stuck = since is not None and time.monotonic() - since > self.settings.stuck_handler_seconds
        return {"alive": not stuck, "handler_in_flight_seconds": None if since is None else time.monotonic() - since}

    def create_app(self) -> FastAPI:
        """The public app: what patients, provider webhooks and API clients need, nothing else."""

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=f"Frontdesk {self.definition.name}",
            lifespan=lifespan,
            openapi_url=None,  # the document and its pages are on the ops port (create_ops_app)
            docs_url=None,
            redoc_url=None,
        )
        app.state.runtime = self
        app.state.token_verifier = TokenVerifier(self.settings.auth_public_keys)
        if not app.state.token_verifier.keys:
            log.warning("no API token keys configured (FRONTDESK_AUTH_PUBLIC_KEYS): every API request gets 401")
        app.add_middleware(AuditTrail, service=self.definition.name, pool=lambda: self.pool)
        app.add_middleware(UnicodeBodies)  # a lone surrogate in a JSON body: 400, not a 500 in a route
        app.add_middleware(BodyLimit, max_bytes=self.settings.max_request_bytes)  # outermost: before any read

        @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
        async def unstorable_text(_: Request, __: Exception) -> JSONResponse:
            # PostgreSQL refuses text with a NUL character in it (found by the API fuzzing test): that is
            # the request's fault, and the transaction it was in has rolled back.
            return JSONResponse({"detail": "text must not contain NUL (\\u0000) characters"}, status_code=422)

        @app.get("/v1/clinics", tags=["clinic directory"], responses=error_responses(401, 403, 413))
        async def clinics(principal: CurrentPrincipal) -> list[dict[str, Any]]:
            """The clinics this service knows (its own projection of clinic.configured), those the token may see."""
            assert self.pool is not None
            rows = await self.pool.fetch(
                "SELECT clinic_id, event_id, updated_at FROM clinics"
                " WHERE $1::text[] IS NULL OR clinic_id = ANY($1) ORDER BY clinic_id",
                principal.visible_clinics(),
            )
            return [dict(r) for r in rows]

        for router in self.definition.routers:
            app.include_router(
                router, dependencies=[Depends(authenticate)], responses=error_responses(401, 403, 413, 503)
            )
        for router in self.definition.public_routers:
            app.include_router(router, responses=error_responses(413))
        return app

    def create_ops_app(self, public: FastAPI) -> FastAPI:
        """The operations app, on its own port (never exposed to patients): liveness, readiness,
        Prometheus metrics, the public app's OpenAPI document with its browsable page, and the AsyncAPI
        document of the service's Kafka interface (no HTML page for it: faststream's loads its scripts
        from a CDN)."""
        ops = FastAPI(title=f"Frontdesk {self.definition.name} operations", openapi_url=None, docs_url=None)
        down: dict[int | str, dict[str, Any]] = {
            503: {"description": "Not alive (a handler is stuck) or not ready (Kafka or PostgreSQL unreachable)"}
        }

        @ops.get("/healthz", responses=down)
        async def healthz() -> JSONResponse:
            body = self.liveness()
            return JSONResponse(body, status_code=200 if body["alive"] else 503)

        @ops.get("/readyz", responses=down)
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

        @ops.get("/metrics", response_class=PlainTextResponse)
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        @ops.get("/openapi.json")
        async def openapi() -> JSONResponse:
            return JSONResponse(public.openapi())

        @ops.get("/asyncapi.json", responses={404: {"description": "No AsyncAPI document in the package"}})
        async def asyncapi() -> Response:
            # Generated into the service's package with docs/asyncapi/ (`make asyncapi`), so it is in the image.
            package = "frontdesk." + self.definition.name.replace("-", "_")
            try:
                document = resources.files(package) / "asyncapi.json"
            except ModuleNotFoundError:
                document = None
            if document is None or not document.is_file():
                return JSONResponse({"detail": "no AsyncAPI document"}, status_code=404)
            return Response(document.read_bytes(), media_type="application/json")

        @ops.get("/docs", response_class=HTMLResponse)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=public.title)

        return ops

    def create_asgi(self) -> ASGIApp:
        """Both apps behind one server: a request is the ops app's when it came in on the ops port."""
        if self.settings.ops_port == self.settings.http_port:
            raise ValueError("FRONTDESK_OPS_PORT must differ from FRONTDESK_HTTP_PORT")
        public = self.create_app()
        return ByPort(public, self.create_ops_app(public), self.settings.ops_port)


class ByPort:
    """Routes each request by the local port it arrived on; the lifespan goes to the public app."""

    def __init__(self, public: ASGIApp, ops: ASGIApp, ops_port: int) -> None:
        self.public, self.ops, self.ops_port = public, ops, ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        on_ops = scope["type"] != "lifespan" and server is not None and server[1] == self.ops_port
        await (self.ops if on_ops else self.public)(scope, receive, send)


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime serving this request (for its pool and settings)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def current_runtime(request: Request) -> ServiceRuntime:
    """runtime_of as an async dependency: FastAPI runs sync dependencies in a thread pool, a thread
    hand-off per request that measurably slowed the booking path."""
    return runtime_of(request)


# What a route takes to reach its service's runtime (`runtime: Runtime`), in every service.
Runtime = Annotated[ServiceRuntime, Depends(current_runtime)]


def run_service(definition: ServiceDefinition) -> None:
    """Console-script entry point: serve one service until SIGTERM or Ctrl-C, on its public port and
    its operations port."""
    settings = ServiceSettings.for_service(definition.name)
    configure_logging(definition.name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(definition, settings)
    config = uvicorn.Config(  # on uvloop (a dependency): uvicorn's loop="auto" picks it
        runtime.create_asgi(),
        log_config=None,  # keep our structlog configuration
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        lifespan="on",
        # The client address is ours to work out (FRONTDESK_TRUSTED_PROXY_HOPS): uvicorn would
        # otherwise believe any X-Forwarded-For sent from loopback.
        proxy_headers=False,
    )
    sockets = [_listen(settings.http_host, settings.http_port), _listen(settings.http_host, settings.ops_port)]
    uvicorn.Server(config).run(sockets=sockets)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock
