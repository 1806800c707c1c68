"""The console's read model rebuilt from the topics' retention equals the one its consumer built live:
calls whose events arrived out of order and twice, presence that changed back and forth, callbacks.
Then the live model is lost and `frontdesk-console rebuild` brings it back, and the consumer goes on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from frontdesk.common.clinics import project_clinic
from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    AppointmentHeld,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
    ClinicConfig,
    ClinicConfigured,
    Event,
    Hl7Quarantined,
)
from frontdesk.common.db import create_pool
from frontdesk.common.settings import ServiceSettings
from frontdesk.console import projection, rebuild
from frontdesk.console.adapters import shadow
from frontdesk.console.adapters.replay import TopicReader
from frontdesk.console.entrypoints.main import DEFINITION
from frontdesk.testing.helpers import send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

CLINICS = [uid("rebuild-a"), uid("rebuild-b")]
HANDLERS: dict[type[Event], Handler] = {ClinicConfigured: project_clinic, **DEFINITION.handlers}
IGNORED_COLUMNS = {"updated_at"}  # when the row was written, not a fact of the events


@pytest.fixture
def quiet_router(stack: LocalStack) -> Iterator[None]:
    """call-router stopped while the test runs (restarted after, if it ran): it reacts to calls
    (offers, timers, callbacks for abandoned calls), so with it the model would not settle."""
    stopped = [proc for proc in stack.replicas("call-router") if proc.process.running()]
    for proc in stopped:
        proc.stop()
    try:
        yield
    finally:
        for proc in stopped:
            proc.start()


@pytest.fixture(scope="module")
def console(stack: LocalStack) -> ServiceProcess:
    proc = stack.service("console")
    proc.start()
    configs = [
        ClinicConfig.model_validate(
            {
                "clinic_id": c,
                "name": f"Rebuild {c}",
                "timezone": zone,
                "phone": {"front_desk_pool": f"desk-{c}", "answering_service": f"vendor-{c}"},
            }
        )
        for c, zone in zip(CLINICS, ("Pacific/Chatham", "America/St_Johns"), strict=True)
    ]
    asyncio.run(publish(stack.bootstrap, configs))
    deadline = time.monotonic() + 60
    while not set(CLINICS) <= proc.known_clinics():
        assert time.monotonic() < deadline, "the console never learned the test clinics"
        time.sleep(0.2)
    return proc


def a_day_of_events(clinic: str, start: datetime) -> list[Event]:
    """Calls of every outcome, presence back and forth, callbacks; later facts first, some twice."""
    events: list[Event] = []
    for n in range(6):
        call, at = uid("call"), start + timedelta(minutes=7 * n)
        events.append(CallReceived(call_id=call, clinic_id=clinic, received_at=at, caller_token=uid("caller")))
        offer = {"call_id": call, "clinic_id": clinic, "target_kind": "pool", "ring_timeout_seconds": 20}
        events.append(CallOffered(**offer, target_id="desk", offered_at=at, attempt=1))
        events.append(CallOffered(**offer, target_id="desk-2", offered_at=at + timedelta(seconds=20), attempt=2))
        if n % 3 == 0:
            events.append(
                CallAnswered(
                    call_id=call,
                    clinic_id=clinic,
                    answered_at=at + timedelta(seconds=9 + n),
                    answered_by_kind="receptionist",
                    answered_by_id="rcp-1",
                )
            )
            events.append(CallEnded(call_id=call, clinic_id=clinic, ended_at=at + timedelta(minutes=4)))
        elif n % 3 == 1:
            events.append(CallAbandoned(call_id=call, clinic_id=clinic, abandoned_at=at + timedelta(seconds=40)))
        else:
            for vendor, shift in (("vendor-1", 30), ("vendor-2", 60)):  # a failover: the newest counts
                events.append(
                    CallOverflowed(
                        call_id=call,
                        clinic_id=clinic,
                        vendor_id=vendor,
                        reason="no_answer",
                        overflowed_at=at + timedelta(seconds=shift),
                        answer_by=at + timedelta(seconds=shift + 45),
                        caller_token=uid("caller"),
                    )
                )
        events.append(
            CallbackRequested(
                callback_id=uid("cb"),
                clinic_id=clinic,
                caller_token=uid("caller"),
                reason="abandoned_call",
                requested_at=at,
            )
        )
    for minute, status in ((0, "available"), (30, "busy"), (50, "available")):
        events.append(
            AgentStatusChanged(
                clinic_id=clinic, receptionist_id="rcp-1", status=status, changed_at=start + timedelta(minutes=minute)
            )
        )
    events.append(AgentAutoPaused(clinic_id=clinic, receptionist_id="rcp-2", call_id=uid("call"), paused_at=start))
    slot = start + timedelta(days=1)
    events.append(
        AppointmentHeld(
            appointment_id=uid("appt"),
            clinic_id=clinic,
            provider_id="dr-a",
            appointment_type="checkup",
            starts_at=slot,
            ends_at=slot + timedelta(minutes=30),
            held_at=start,
            expires_at=start + timedelta(days=2),
        )
    )
    events.append(
        Hl7Quarantined(
            clinic_id=clinic,
            sending_facility="EHR",
            control_id=uid("MSG"),
            message_type="SIU^S13",
            reason="unknown appointment E-1: quarantined for review",
            received_at=start,
        )
    )
    events.reverse()  # the latest facts first
    return events + events[::4]  # and a quarter of them again


async def snapshot(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table's rows of the test clinics (console_activity: which clinics only)."""
    conn = await asyncpg.connect(url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in await shadow.read_model_tables(conn):
            columns = [
                r["column_name"]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                    " AND table_name = $1 ORDER BY ordinal_position",
                    table,
                )
                if r["column_name"] not in IGNORED_COLUMNS
            ]
            if table == shadow.ACTIVITY:
                columns = ["clinic_id"]
            listed = ", ".join(f'"{c}"::text' for c in columns)
            order = ", ".join(str(n + 1) for n in range(len(columns)))
            rows = await conn.fetch(
                f'SELECT {listed} FROM {schema}."{table}" WHERE clinic_id = ANY($1::text[]) ORDER BY {order}', CLINICS
            )
            out[table] = [tuple(r) for r in rows]
        return out
    finally:
        await conn.close()


def settled(url: str, expected_calls: int, timeout: float = 60) -> dict[str, list[tuple[Any, ...]]]:
    """The live model once every event has arrived and nothing changed for a second."""
    deadline, previous = time.monotonic() + timeout, None
    while True:
        now = asyncio.run(snapshot(url, "public"))
        if len(now["console_calls"]) == expected_calls and now == previous:
            return now
        assert time.monotonic() < deadline, "the live read model never settled"
        previous = now
        time.sleep(1)


async def build_shadow(settings: ServiceSettings) -> None:
    pool = await create_pool(settings.database_url, size=1)
    try:
        async with pool.acquire() as conn, TopicReader(settings, rebuild.topics(HANDLERS)) as reader:
            tally, _ = await rebuild.build_shadow(conn, reader, HANDLERS, projection.batch_scope)
            assert tally.records > 0 and "console_calls" in tally.tables and "clinics" in tally.tables
    finally:
        await pool.close()


def test_the_model_rebuilt_from_the_topics_equals_the_live_one(
    stack: LocalStack, quiet_router: None, console: ServiceProcess
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    asyncio.run(send_events(stack.bootstrap, [e for c in CLINICS for e in a_day_of_events(c, start)]))
    admin = stack.admin_database_url("console")
    live = settled(admin, expected_calls=12)
    assert len(live["console_callbacks"]) == 12 and len(live["console_agents"]) == 4
    assert len(live["clinics"]) == 2
    assert live["console_call_hours"], "the calls' hour summaries are part of the model"
    assert len(live["console_open_items"]) == 2 and len(live["console_holds"]) == 2
    assert len(live["console_hl7_quarantine"]) == 2

    settings = ServiceSettings(
        service="console", database_url=stack.database_url("console"), kafka_bootstrap_servers=stack.bootstrap
    )
    asyncio.run(build_shadow(settings))  # with the console's own database role
    try:
        assert asyncio.run(snapshot(admin, shadow.SHADOW)) == live
    finally:
        asyncio.run(drop_shadow(admin))

    # the live model is lost; the command rebuilds it from the topics and swaps it in
    asyncio.run(forget(admin))
    assert not asyncio.run(snapshot(admin, "public"))["console_calls"]
    done = subprocess.run(
        [sys.executable, "-m", "frontdesk.console", "rebuild"],
        env=console.env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rebuilt" in done.stdout and "console_calls" in done.stdout
    assert asyncio.run(snapshot(admin, "public")) == live

    # the consumer goes on into the rebuilt tables
    late = CallbackRequested(
        callback_id=uid("cb"),
        clinic_id=CLINICS[0],
        caller_token=uid("caller"),
        reason="abandoned_call",
        requested_at=start,
    )
    asyncio.run(send_events(stack.bootstrap, [late]))
    deadline = time.monotonic() + 30
    while len(asyncio.run(snapshot(admin, "public"))["console_callbacks"]) != 13:
        assert time.monotonic() < deadline, "the consumer stopped after the rebuild"
        time.sleep(0.5)


async def drop_shadow(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await shadow.drop_shadow(conn)
    finally:
        await conn.close()


async def forget(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for table in await shadow.read_model_tables(conn):
            await conn.execute(f'DELETE FROM public."{table}" WHERE clinic_id = ANY($1::text[])', CLINICS)
    finally:
        await conn.close()
