"""The audit trail's hash chain on the real PostgreSQL, and what the trail records (issue 16, item 8).

A superuser who updates, deletes or slips in a row breaks the chain, and `frontdesk audit verify`
names the first broken row; writers racing on one chain still make one valid chain; rows written
before the chain join it. Readiness outside the loopback stack requires an append-only trail. The
trail records the clinic named in a JSON body, and a FHIR search's parameters.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from frontdesk.common.audit import INSERT
from frontdesk.common.audit_chain import Anchor, ChainReport, verify
from frontdesk.common.db import create_pool, ensure_database, migrate
from frontdesk.common.provision import check_append_only, provision
from frontdesk.common.service import ServiceRuntime
from frontdesk.common.settings import ServiceSettings
from frontdesk.scheduler.entrypoints.main import DEFINITION as SCHEDULER
from frontdesk.tools import cli
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_audit_trail_store import Login, new_login


def row(n: int, service: str = "scheduler", **overrides: object) -> tuple[object, ...]:
    values: dict[str, object] = {
        "service": service,
        "subject": f"staff-{n}",
        "action": "read",
        "method": "GET",
        "route": "/v1/appointments/{appointment_id}",
        "resource": {"appointment_id": f"a{n}"},
        "clinic_id": "c1",
        "status": 200,
        "trace_id": None,
    }
    values.update(overrides)
    return tuple(values.values())


@pytest.fixture
async def login(stack: LocalStack) -> AsyncIterator[Login]:
    login = new_login(stack)
    await provision(stack.server_database_url, login.app_url)
    yield login


@pytest.fixture
async def app(login: Login) -> AsyncIterator[asyncpg.Pool]:
    """One connection: its rows all go to one of the service's chains (by backend), so a test knows which."""
    pool = await create_pool(login.app_url, size=1)
    try:
        await migrate(pool, SCHEDULER.migrations)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def superuser(stack: LocalStack, login: Login) -> AsyncIterator[asyncpg.Connection]:
    """The server's superuser in the role's database: someone who may do anything to the table."""
    conn = await asyncpg.connect(login.admin_url)
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        yield conn
    finally:
        await conn.close()


async def reports(url: str, anchors: list[Anchor] | None = None) -> list[ChainReport]:
    """The chains that have rows, and the broken ones."""
    conn = await asyncpg.connect(url)
    try:
        return [r for r in await verify(conn, anchors or []) if r.rows or not r.intact]
    finally:
        await conn.close()


async def ids(pool: asyncpg.Pool) -> list[int]:
    return [r["id"] for r in await pool.fetch("SELECT id FROM audit.log ORDER BY chain_seq")]


async def test_issue16_item8_an_untouched_chain_verifies_with_awkward_content(login: Login, app: asyncpg.Pool) -> None:
    """Python recomputes exactly what the trigger hashed: NULLs, non-ASCII text, JSON with quotes."""
    await app.execute(INSERT, *row(1))
    await app.execute(INSERT, *row(2, subject='Zoë ☃ "quoted"', resource={"q": 'a"b\\c', "é": ["x"]}, clinic_id=None))
    await app.execute(INSERT, *row(3, trace_id="0af7651916cd43dd8448eb211c80319c", status=503))
    await app.execute(INSERT, *row(1, service="followup"))  # another service's rows: its own chain
    [followup, scheduler] = await reports(login.app_url)
    assert scheduler.intact and followup.intact, (scheduler, followup)
    assert scheduler.chain.startswith("scheduler/") and (scheduler.rows, scheduler.head_seq) == (3, 3)
    assert followup.chain.startswith("followup/") and followup.rows == 1
    stored = await app.fetch("SELECT chain_seq, prev_hash, row_hash FROM audit.log WHERE service = 'scheduler'")
    chain = sorted((r["chain_seq"], bytes(r["prev_hash"]), bytes(r["row_hash"])) for r in stored)
    assert chain[0][1] == bytes(32) and [c[1] for c in chain[1:]] == [c[2] for c in chain[:-1]]
    assert scheduler.head_hash == chain[-1][2].hex()


async def test_issue16_item8_verify_detects_an_altered_row(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    for n in range(5):
        await app.execute(INSERT, *row(n))
    victim = (await ids(app))[2]
    await superuser.execute("UPDATE audit.log SET status = 404 WHERE id = $1", victim)
    [report] = await reports(login.app_url)
    assert (report.intact, report.broken_row, report.rows) == (False, victim, 2)
    assert "does not match its hash" in (report.problem or "")

    # Recomputing that one row's hash moves the break to the next row, whose prev_hash no longer fits.
    await superuser.execute(
        "UPDATE audit.log l SET row_hash = sha256(prev_hash || audit.content(l)) WHERE id = $1", victim
    )
    [report] = await reports(login.app_url)
    assert (report.intact, report.broken_row) == (False, (await ids(app))[3])
    assert "prev_hash" in (report.problem or "")


async def test_issue16_item8_verify_detects_a_deleted_row(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    for n in range(5):
        await app.execute(INSERT, *row(n))
    before = await ids(app)
    await superuser.execute("DELETE FROM audit.log WHERE id = $1", before[1])
    [report] = await reports(login.app_url)
    assert (report.intact, report.broken_row) == (False, before[2])
    assert "missing (deleted)" in (report.problem or "")


async def test_issue16_item8_verify_detects_the_newest_row_deleted(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    """No row follows the newest to miss it: the chain's head does."""
    for n in range(3):
        await app.execute(INSERT, *row(n))
    await superuser.execute("DELETE FROM audit.log WHERE id = $1", (await ids(app))[-1])
    [report] = await reports(login.app_url)
    assert not report.intact and report.broken_row is None
    assert "the head names row 3 but the chain ends at row 2" in (report.problem or "")

    # A whole chain deleted, head and all: every chain of a service has a head from its first row on.
    chain = await app.fetchval("SELECT chain FROM audit.log LIMIT 1")
    await superuser.execute("DELETE FROM audit.log WHERE chain = $1", chain)
    await superuser.execute("DELETE FROM audit.chain_head WHERE chain = $1", chain)
    [report] = await reports(login.app_url)
    assert (report.chain, report.intact, report.problem) == (chain, False, "the chain's head is gone (deleted)")


async def test_issue16_item8_verify_detects_an_inserted_row(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    for n in range(3):
        await app.execute(INSERT, *row(n))
    [first, second, third] = await ids(app)
    # A forged row after the newest, written with the chain's trigger off, its hashes made up.
    await superuser.execute("SET session_replication_role = replica")
    forged = await superuser.fetchval(
        "INSERT INTO audit.log (occurred_at, service, subject, action, method, route, status,"
        " chain, chain_seq, prev_hash, row_hash)"
        " SELECT occurred_at, service, 'intruder', action, method, route, 200, chain, chain_seq + 1, row_hash,"
        " row_hash"
        " FROM audit.log WHERE id = $1 RETURNING id",
        third,
    )
    await superuser.execute("RESET session_replication_role")
    [report] = await reports(login.app_url)
    assert not report.intact and report.broken_row == forged, report
    await superuser.execute("DELETE FROM audit.log WHERE id = $1", forged)
    assert all(r.intact for r in await reports(login.app_url))

    # The same with the index out of the way: a second row 2, its prev_hash the real row 1's.
    await superuser.execute("DROP INDEX audit.log_chain")
    await superuser.execute("SET session_replication_role = replica")
    forged = await superuser.fetchval(
        "INSERT INTO audit.log (service, subject, action, method, route, status, chain, chain_seq, prev_hash,"
        " row_hash) SELECT service, 'intruder', action, method, route, 200, chain, 2, row_hash, row_hash FROM audit.log"
        " WHERE id = $1 RETURNING id",
        first,
    )
    await superuser.execute("RESET session_replication_role")
    [report] = await reports(login.app_url)
    assert not report.intact and report.broken_row in (forged, second), report


async def test_issue16_item8_an_anchor_catches_a_rewritten_chain(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection
) -> None:
    """Someone who recomputes every hash after his change is caught by a head kept elsewhere."""
    for n in range(3):
        await app.execute(INSERT, *row(n))
    [report] = await reports(login.app_url)
    anchor = Anchor.parse(f"{report.chain}:{report.head_seq}:{report.head_hash}")
    await superuser.execute("UPDATE audit.log SET subject = 'nobody' WHERE chain_seq = 1")
    await superuser.execute("""
        DO $$ DECLARE r audit.log; prev bytea := decode(repeat('00', 32), 'hex'); BEGIN
          FOR r IN SELECT * FROM audit.log ORDER BY chain_seq LOOP
            UPDATE audit.log SET prev_hash = prev, row_hash = sha256(prev || audit.content(r)) WHERE id = r.id
              RETURNING row_hash INTO prev;
          END LOOP;
          UPDATE audit.chain_head SET row_hash = prev WHERE seq > 0;
        END $$""")
    [rewritten] = await reports(login.app_url)
    assert rewritten.intact  # the chain alone cannot tell
    [report] = await reports(login.app_url, [anchor])
    assert not report.intact and "anchor" in (report.problem or "")


async def test_issue16_item8_concurrent_writers_keep_valid_chains(login: Login) -> None:
    writers, per_writer = 10, 40
    pool = await create_pool(login.app_url, size=writers)
    try:

        async def write(w: int) -> None:
            for n in range(per_writer):
                await pool.execute(INSERT, *row(w * 1000 + n))

        await asyncio.gather(*(write(w) for w in range(writers)))
    finally:
        await pool.close()
    found = await reports(login.app_url)
    assert all(r.intact and r.rows == r.head_seq for r in found), found
    assert sum(r.rows for r in found) == writers * per_writer


async def test_issue16_item8_the_cli_names_the_first_broken_row(
    login: Login, app: asyncpg.Pool, superuser: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        await app.execute(INSERT, *row(n))
    argv = ["audit", "verify", "scheduler", "--database-url", login.app_url]
    assert await asyncio.to_thread(cli.main, argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^scheduler: chain scheduler/\d: intact, 3 rows, head 3:[0-9a-f]{64}$", out, re.M), out
    victim = (await ids(app))[1]
    await superuser.execute("UPDATE audit.log SET clinic_id = 'c2' WHERE id = $1", victim)
    assert await asyncio.to_thread(cli.main, argv) == 1
    assert f"BROKEN at row id {victim}" in capsys.readouterr().out


async def test_issue16_item8_rows_written_before_the_chain_join_it(stack: LocalStack) -> None:
    """A trail from before the upgrade: provisioning chains its rows, oldest first."""
    login = new_login(stack)
    await ensure_database(stack.server_database_url, login.role)
    admin_pool = await create_pool(login.admin_url, size=2)
    try:
        await migrate(admin_pool, SCHEDULER.migrations)  # everything, chain too, as the admin
        await admin_pool.execute("DROP TRIGGER chain ON audit.log")
        await admin_pool.execute("DROP TABLE audit.chain_head")
        await admin_pool.execute("DROP FUNCTION audit.chain_row(), audit.content(audit.log)")
        await admin_pool.execute("DROP INDEX audit.log_chain")
        await admin_pool.execute(
            "ALTER TABLE audit.log DROP COLUMN chain, DROP COLUMN chain_seq, DROP COLUMN prev_hash,"
            " DROP COLUMN row_hash"
        )
        for n in range(4):
            await admin_pool.execute(INSERT, *row(n))
    finally:
        await admin_pool.close()
    await provision(stack.server_database_url, login.app_url)
    [report] = await reports(login.app_url)
    assert (report.chain, report.intact, report.rows) == ("scheduler/0", True, 4), report


async def test_issue16_item8_readiness_fails_in_production_when_the_trail_is_not_append_only(
    stack: LocalStack, login: Login, app: asyncpg.Pool
) -> None:
    database = f"frontdesk_unprovisioned_{uuid.uuid4().hex[:8]}"
    await ensure_database(stack.server_database_url, database)
    owner = await create_pool(stack.database_url_named(database), size=2)  # the superuser, as before provisioning
    try:
        await migrate(owner, None)
        production = ServiceSettings(
            service="readiness-check",
            kafka_bootstrap_servers="kafka.internal:9093",
            database_url="postgresql://app@db.internal/frontdesk",
        )
        loopback = ServiceSettings(service="readiness-check", database_url=login.app_url)
        for settings, pool, expected in ((production, owner, False), (production, app, True), (loopback, owner, None)):
            runtime = ServiceRuntime(SCHEDULER, settings)
            runtime.pool = pool
            checks = await runtime.readiness()
            assert checks.get("audit_append_only") is expected, (settings.database_url, checks)
            runtime.pool = None
        assert await check_append_only(owner, "readiness-check") is False
    finally:
        await owner.close()


async def test_issue16_item8_the_trail_records_a_body_s_clinic_and_a_fhir_search(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    subject = f"auditor-{uuid.uuid4().hex[:8]}"
    patient = f"p-{uuid.uuid4().hex[:8]}"
    token = stack.api_token(clinics=["test-always-open"], subject=subject)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    hold = {
        "patient_id": patient,
        "clinic_id": "test-never-open",  # not the token's: refused, and the refusal names the clinic
        "provider_id": "dr-x",
        "appointment_type": "checkup",
        "starts_at": "2030-01-07T09:00:00+00:00",
    }
    async with httpx.AsyncClient(base_url=running["scheduler"].url, timeout=10) as client:
        refused = await client.post("/v1/holds", json=hold, headers=headers)
        search = await client.get(f"/fhir/R4/Appointment?patient=Patient/{patient}&_count=5", headers=headers)
    assert (refused.status_code, search.status_code) == (403, 200), (refused.text, search.text)
    conn = await asyncpg.connect(stack.database_url("scheduler"))
    try:
        rows = await conn.fetch(
            "SELECT route, resource, clinic_id, status FROM audit.log WHERE subject = $1 ORDER BY id", subject
        )
    finally:
        await conn.close()
    assert [(r["route"], json.loads(r["resource"]), r["clinic_id"], r["status"]) for r in rows] == [
        ("/v1/holds", {}, "test-never-open", 403),
        ("/fhir/R4/Appointment", {"search": {"patient": [f"Patient/{patient}"], "_count": ["5"]}}, None, 200),
    ]
