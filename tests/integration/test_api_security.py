"""What every service's HTTP API does with credentials, the audit trail and rate limits (issue 8).

Per-service object-level authorization has its own matrices (test_authz_<service>.py); this module
covers what all four share: 401 without a valid token, the clinic directory filtered by the token, an
audit row for every request (including refusals), and the rate limiter's counting on PostgreSQL.
"""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx
import pytest

from frontdesk.common.ratelimit import hit
from frontdesk.tools.stack import SERVICES, LocalStack, ServiceProcess


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("service", SERVICES)
async def test_no_valid_token_no_data(service: str, stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    url = running[service].url + "/v1/clinics"
    cases = {
        "missing bearer token (Authorization: Bearer <token>)": {},
        "the bearer token has expired": {"Authorization": f"Bearer {stack.api_token(ttl_seconds=-120)}"},
        "the bearer token is not a JWT": {"Authorization": "Bearer nope"},
    }
    async with httpx.AsyncClient(timeout=10) as client:
        for message, headers in cases.items():
            response = await client.get(url, headers=headers)
            assert response.status_code == 401, response.text
            assert response.json() == {"detail": message}
            assert response.headers["www-authenticate"] == 'Bearer realm="frontdesk"'
        scoped = {"Authorization": f"Bearer {stack.api_token(clinics=['test-always-open'])}"}
        assert [c["clinic_id"] for c in (await client.get(url, headers=scoped)).json()] == ["test-always-open"]
        network = (await client.get(url, headers=running[service].auth_headers)).json()
        assert {"test-always-open", "test-never-open"} <= {c["clinic_id"] for c in network}


async def test_every_request_leaves_an_audit_row(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    subject = uid("auditor")
    token = stack.api_token(clinics=["test-always-open"], subject=subject)
    scheduler = running["scheduler"]
    appointment_id = uid("appt")
    async with httpx.AsyncClient(base_url=scheduler.url, timeout=10) as client:
        seen = await client.get(f"/v1/appointments/{appointment_id}", headers={"Authorization": f"Bearer {token}"})
        refused = await client.get(f"/v1/appointments/{appointment_id}")
    assert (seen.status_code, refused.status_code) == (404, 401)
    conn = await asyncpg.connect(stack.database_url("scheduler"))
    try:
        rows = await conn.fetch(
            "SELECT subject, action, method, route, resource::text, status FROM audit.log"
            " WHERE resource->>'appointment_id' = $1 ORDER BY id",
            appointment_id,
        )
    finally:
        await conn.close()
    resource = f'{{"appointment_id": "{appointment_id}"}}'
    route = "/v1/appointments/{appointment_id}"
    assert [tuple(r) for r in rows] == [
        (subject, "read", "GET", route, resource, 404),
        ("anonymous", "read", "GET", route, resource, 401),
    ]


async def test_the_rate_limit_is_a_sliding_minute_shared_by_replicas(stack: LocalStack) -> None:
    pool = await asyncpg.create_pool(stack.database_url("scheduler"), min_size=1, max_size=2)
    assert pool is not None
    bucket, key = uid("bucket"), uid("client")
    minute = (time.time() // 60 + 1) * 60  # the start of a fresh window
    try:
        assert [await hit(pool, bucket, key, 3, now=minute + 10) for _ in range(3)] == [None] * 3
        # Retry-After: 4 hits here weigh 4 * (1 - e/60) e s into the next minute; 1 + that <= 3 at e = 30 s.
        assert await hit(pool, bucket, key, 3, now=minute + 20) == 70
        assert await hit(pool, bucket, uid("other"), 3, now=minute + 20) is None  # each key its own budget
        # 30 s into the next minute the previous minute still weighs half: 4 * 0.5 = 2 -> one more
        assert await hit(pool, bucket, key, 3, now=minute + 90) is None
        assert await hit(pool, bucket, key, 3, now=minute + 91) is not None
        assert await hit(pool, bucket, key, 3, now=minute + 185) is None  # two minutes on: a fresh budget
    finally:
        await pool.close()
