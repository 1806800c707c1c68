"""followup's contact policy reads what it weighs for a send in one statement (adapters/policy_inputs.py):
the contact details, the consent ledger in its order, the same purpose's recent sends and the clinic's
sends today, exactly what the repository's four separate reads return."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from frontdesk.common.db import Connection, create_pool, ensure_database, migrate
from frontdesk.followup.adapters import policy_inputs, repository
from frontdesk.followup.adapters.policy_inputs import Contact
from frontdesk.followup.domain.consent import ConsentEntry
from frontdesk.followup.entrypoints.main import DEFINITION
from frontdesk.tools.stack import LocalStack

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
DAY_START = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=8)


@pytest.fixture
async def pool(stack: LocalStack) -> AsyncIterator[asyncpg.Pool]:
    name = f"frontdesk_policy_inputs_{uuid.uuid4().hex[:8]}"
    await ensure_database(stack.server_database_url, name)
    pool = await create_pool(stack.database_url_named(name), size=2)
    await migrate(pool, DEFINITION.migrations)
    try:
        yield pool
    finally:
        await pool.close()


async def _message(conn: Connection, n: int, patient: str, clinic: str, purpose: str, **row: object) -> None:
    await repository.insert_message(
        conn,
        message_request_id=f"m-{n}",
        requested_by="tests",
        patient_id=patient,
        clinic_id=clinic,
        purpose=purpose,
        template="appointment-reminder",
        variables={},
        not_before=None,
        expires_at=None,
    )
    if row:
        await conn.execute(
            "UPDATE messages SET status = $2, sent_at = $3 WHERE message_request_id = $1",
            f"m-{n}",
            row["status"],
            row.get("sent_at"),
        )


async def test_a_patient_never_registered_has_no_contact_ledger_or_sends(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        inputs = await policy_inputs.read(conn, "nobody", "treatment", SINCE, "clinic-a", DAY_START)
    assert (inputs.contact, inputs.ledger, inputs.sent_same_purpose, inputs.clinic_sent_today) == (None, [], [], 0)


async def test_one_read_returns_what_the_four_reads_did(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await repository.upsert_contact(conn, "pat-1", "+15550101", None, "America/Chicago", "TX", "sms")
        # Two entries at the same instant: the later one in the ledger decides, so the order is kept.
        await repository.add_consent(
            conn,
            "pat-1",
            [
                ConsentEntry("treatment", True, NOW - timedelta(days=30), "registration"),
                ConsentEntry("feedback", True, NOW - timedelta(days=2), "staff"),
                ConsentEntry("feedback", False, NOW - timedelta(days=2), "reply"),
            ],
        )
        await repository.add_consent(conn, "pat-2", [ConsentEntry("treatment", True, NOW, "staff")])
        sent = {"status": "sent"}
        await _message(conn, 1, "pat-1", "clinic-a", "treatment", **sent, sent_at=NOW - timedelta(days=1))
        await _message(conn, 2, "pat-1", "clinic-a", "treatment", **sent, sent_at=NOW - timedelta(days=9))  # too old
        await _message(conn, 3, "pat-1", "clinic-a", "feedback", **sent, sent_at=NOW - timedelta(hours=2))
        await _message(conn, 4, "pat-1", "clinic-a", "treatment")  # pending
        await _message(conn, 5, "pat-2", "clinic-a", "treatment", **sent, sent_at=NOW - timedelta(hours=1))
        await _message(conn, 6, "pat-2", "clinic-b", "treatment", **sent, sent_at=NOW - timedelta(hours=1))
        await _message(conn, 7, "pat-2", "clinic-a", "treatment", status="skipped")

        inputs = await policy_inputs.read(conn, "pat-1", "treatment", SINCE, "clinic-a", DAY_START)

        assert inputs.contact == Contact("+15550101", None, "America/Chicago", "TX", "sms")
        assert inputs.ledger == await repository.ledger(conn, "pat-1")
        assert [e.source for e in inputs.ledger] == ["registration", "staff", "reply"]
        assert inputs.sent_same_purpose == await repository.sent_times(conn, "pat-1", "treatment", SINCE)
        assert inputs.sent_same_purpose == [NOW - timedelta(days=1)]
        assert inputs.clinic_sent_today == await repository.clinic_sent_since(conn, "clinic-a", DAY_START)
        assert inputs.clinic_sent_today == 2  # messages 3 and 5 (1 and 2 were sent before today)
