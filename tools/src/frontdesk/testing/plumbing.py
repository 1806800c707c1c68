"""Helpers for the shared plumbing's own integration tests (libs/common/tests/integration): a database
of their own, migrated, and an event whose handler they choose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from frontdesk.common.contracts import ReviewRequested
from frontdesk.common.db import create_pool, ensure_database, migrate
from frontdesk.common.settings import ServiceSettings
from frontdesk.testing.helpers import uid
from frontdesk.tools.stack import LocalStack


def database_fixture(name: str, *statements: str) -> Any:
    """A `pool` fixture: a pool on the database `name` with the shared migrations applied, then
    `statements` run (a test module's own tables)."""

    @pytest.fixture
    async def pool(stack: LocalStack) -> AsyncIterator[asyncpg.Pool]:
        await ensure_database(stack.server_database_url, name)
        pool = await create_pool(stack.database_url_named(name))
        await migrate(pool, None)
        for statement in statements:
            await pool.execute(statement)
        try:
            yield pool
        finally:
            await pool.close()

    return pool


def consumer_settings(stack: LocalStack, name: str, **overrides: Any) -> ServiceSettings:
    """Settings of a consumer of its own (a new group: it reads each topic from its start) on the
    database `name`, retrying quickly."""
    return ServiceSettings(
        service=uid(name),
        database_url=stack.database_url_named(name),
        kafka_bootstrap_servers=stack.bootstrap,
        retry_backoff_seconds=0.05,
        **overrides,
    )


def review(clinic: str, visit: str) -> ReviewRequested:
    """A review.requested of `clinic` (the topic holds other tests' too: filter by clinic). All have one
    patient, so one key: one partition, in the order sent."""
    return ReviewRequested(
        review_request_id=f"rr-{visit}",
        visit_id=visit,
        patient_id="pat-1",
        clinic_id=clinic,
        provider_id="dr-1",
        send_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
