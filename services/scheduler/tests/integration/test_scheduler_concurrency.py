"""No double booking under fire: 200 concurrent clients, 10,000 overlapping booking attempts at a few
providers, over HTTP against the running scheduler. Afterwards an independent SQL query finds no
overlapping active appointments, every attempt got a 201 or a 409 (never a 5xx), and every 409 names
a window that really is booked and really overlaps what was asked for.

Each client is its own front desk with its own token (as in a clinic network), so each stays within
its booking rate limit: 50 attempts apiece."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

CLIENTS = 200
ATTEMPTS = 10_000
PROVIDERS = 4


async def test_200_clients_10000_overlapping_attempts_never_double_book(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = uid("conc")
    providers = [f"{clinic_id}-dr-{n}" for n in range(PROVIDERS)]
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Concurrency Test Clinic",
            "timezone": "America/New_York",
            "phone": {"answering_service": "test-vendor"},
            "providers": [{"provider_id": p} for p in providers],  # no template: any explicit window
            "scheduling": {
                "appointment_types": [{"type_id": "checkup", "duration_minutes": 30, "buffer_after_minutes": 5}]
            },
        }
    )
    await publish(stack.bootstrap, [config])
    scheduler = running["scheduler"]
    async with httpx.AsyncClient(
        base_url=scheduler.url, timeout=120, limits=httpx.Limits(max_connections=CLIENTS)
    ) as client:
        deadline = time.monotonic() + 90
        while clinic_id not in await asyncio.to_thread(scheduler.known_clinics):
            assert time.monotonic() < deadline, "the scheduler never learned the clinic"
            await asyncio.sleep(0.2)

        # Starts on a 5-minute grid over 8 hours: 96 starts per provider for 10,000 attempts, so
        # nearly every attempt overlaps several others.
        day = datetime(2033, 3, 7, 13, tzinfo=UTC)
        rng = random.Random(20261127)
        attempts = [
            (rng.choice(providers), day + timedelta(minutes=5 * rng.randrange(96)), uuid.uuid4().hex)
            for _ in range(ATTEMPTS)
        ]
        results: list[tuple[str, datetime, int, dict[str, Any]]] = []

        async def worker(n: int) -> None:
            token = stack.api_token(clinics=[clinic_id], subject=f"{clinic_id}-desk-{n}")
            headers = {"Authorization": f"Bearer {token}"}
            for provider, start, key in attempts[n::CLIENTS]:
                body = {
                    "patient_id": "pat-" + key[:12],
                    "clinic_id": clinic_id,
                    "provider_id": provider,
                    "appointment_type": "checkup",
                    "starts_at": start.isoformat(),
                }
                # A dropped connection is retried with the same idempotency key, as a real client
                # would: the key makes the retry safe (it books at most once).
                for attempt in range(3):
                    try:
                        response = await client.post(
                            "/v1/appointments", json=body, headers={**headers, "Idempotency-Key": key}
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                results.append((provider, start, response.status_code, response.json()))

        await asyncio.gather(*(worker(n) for n in range(CLIENTS)))

    codes = Counter(code for _, _, code, _ in results)
    assert len(results) == ATTEMPTS
    assert set(codes) <= {201, 409}, codes  # never a 5xx, never anything else
    winners = [r for r in results if r[2] == 201]
    assert winners and codes[409] > ATTEMPTS / 2

    url = stack.database_url("scheduler")
    # The independent check: no two active appointments of one provider overlap (nor their buffers).
    overlaps = await query(
        url,
        "SELECT count(*) AS n FROM appointments a JOIN appointments b ON a.provider_id = b.provider_id"
        " AND a.appointment_id < b.appointment_id"
        " AND tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(b.starts_at, b.ends_at, '[)')"
        " WHERE a.clinic_id = $1 AND b.clinic_id = $1"
        " AND a.status IN ('pending', 'booked', 'arrived', 'checked-in', 'fulfilled')"
        " AND b.status IN ('pending', 'booked', 'arrived', 'checked-in', 'fulfilled')",
        clinic_id,
    )
    assert overlaps[0]["n"] == 0
    rows = await query(url, "SELECT provider_id, starts_at, ends_at FROM appointments WHERE clinic_id = $1", clinic_id)
    assert len(rows) == len(winners)  # every 201 is one row, every loser left none
    booked = {(r["provider_id"], r["starts_at"], r["ends_at"]) for r in rows}
    # Every loser got a 409 naming a window that is booked for that provider and overlaps its request
    # (with the 5-minute buffer after each visit).
    for provider, start, code, body in results:
        if code != 409:
            continue
        conflict = body["conflict"]
        c_start, c_end = datetime.fromisoformat(conflict["starts_at"]), datetime.fromisoformat(conflict["ends_at"])
        assert (provider, c_start, c_end) in booked, body
        assert start < c_end + timedelta(minutes=5) and c_start < start + timedelta(minutes=35), body
    # And the calendar is packed as tightly as the rules allow: no free grid start was left that a
    # loser could have had (each provider's winners leave no 35-minute gap on the 5-minute grid).
    per_provider = Counter(p for p, _, _ in booked)
    assert all(n >= 8 for n in per_provider.values()), per_provider
