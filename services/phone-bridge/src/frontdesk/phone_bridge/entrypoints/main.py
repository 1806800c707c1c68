"""phone-bridge's process: the switchboard in memory, fed by the router's events; its SIP socket; the
events it publishes through the outbox (in the background, so no question waits on the database)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from frontdesk.common.contracts import ClinicConfig, Event
from frontdesk.common.db import TRANSIENT_DB_ERRORS
from frontdesk.common.logging import get_logger
from frontdesk.common.service import ServiceDefinition, ServiceRuntime, run_service

from .. import handlers
from ..adapters import presence_store, sip_server
from ..settings import current as settings
from ..switchboard import Switchboard, utc_now
from .http import router

log = get_logger(__name__)
REGISTRATION_TICK_SECONDS = 0.1
_OUTGOING: asyncio.Queue[tuple[Event, str]] | None = None


def _queue() -> asyncio.Queue[tuple[Event, str]]:
    global _OUTGOING
    if _OUTGOING is None:
        _OUTGOING = asyncio.Queue()
    return _OUTGOING


def _publish(event: Event, event_id: str) -> None:
    _queue().put_nowait((event, event_id))


SWITCHBOARD = Switchboard(
    _publish, caller_key=settings().caller_token_key, router_wait_seconds=settings().router_wait_seconds, clock=utc_now
)


async def _write_outbox(runtime: ServiceRuntime) -> None:
    """Each event in its own transaction, in order; retried until the database takes it (a broker that
    is down only grows the outbox, which the relay drains when it returns)."""
    queue = _queue()
    while True:
        event, event_id = await queue.get()
        delay = 0.1
        while True:
            try:
                async with runtime.unit_of_work() as uow:
                    await uow.emit(event, event_id=event_id)
                break
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("event not stored yet; retrying", event_type=event.event_type, error=repr(exc)[:200])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)


async def _serve_sip(runtime: ServiceRuntime) -> None:
    assert runtime.pool is not None
    for row in await runtime.pool.fetch("SELECT config FROM clinics"):  # memory after a restart
        SWITCHBOARD.learn_clinic(ClinicConfig.model_validate(row["config"]))
    async with runtime.pool.acquire() as conn:
        for desk in await presence_store.load(conn):
            SWITCHBOARD.learn_presence(desk.clinic_id, desk.receptionist_id, desk.status, desk.changed_at)
    s = settings()
    transport, _ = await sip_server.serve(SWITCHBOARD, s.sip_host, s.sip_port)
    log.info("SIP socket listening", host=s.sip_host, port=s.sip_port)
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            transport.close()


async def _expire_registrations(runtime: ServiceRuntime) -> None:
    """Desk phones that stop refreshing their registration go offline within this tick."""
    while True:
        await asyncio.sleep(REGISTRATION_TICK_SECONDS)
        SWITCHBOARD.expire_registrations()


DEFINITION = ServiceDefinition(
    name="phone-bridge",
    handlers=handlers.handlers(SWITCHBOARD),
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
    tasks=[_serve_sip, _write_outbox, _expire_registrations],
)


def main() -> None:
    settings()  # refuse to start without a caller-token key (outside the local stack)
    run_service(DEFINITION)
