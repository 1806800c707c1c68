"""Rate limits on expensive or abusable endpoints (slot holds, message sends, public pages).

Counted in the service's PostgreSQL so that every replica enforces the same limit. A sliding window
estimated from two fixed one-minute windows (the previous minute's count weighted by how much of it
still overlaps the last 60 seconds): no burst of twice the limit across a minute boundary.

A route opts in with a dependency: `dependencies=[rate_limited("holds", per_minute=60)]`. The number
can be changed per deployment with FRONTDESK_RATE_LIMITS='{"holds": 120}'. The key is the token's
subject on authenticated routes (each client its own budget). A patient's link (feedback token, short
code) is its own key: behind an ingress every patient has the ingress's address, so a budget per
address would let one flood deny everyone. Public routes also get a wider budget per client address,
the address that the outermost of FRONTDESK_TRUSTED_PROXY_HOPS proxies saw (`client_address`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import Depends, HTTPException, Request

from .auth import Principal, authenticate

WINDOW_SECONDS = 60
# The count commits without waiting for the disk (synchronous_commit off for its own transaction): a
# crash of the database could lose the last fraction of a second of counts, which only lets a few
# requests more through, while every request would otherwise wait for a WAL flush before it is served.
_HIT = """
INSERT INTO rate_limit_windows AS w (bucket, key, window_start, hits) VALUES ($1, $2, $3, 1)
ON CONFLICT (bucket, key, window_start) DO UPDATE SET hits = w.hits + 1
RETURNING w.hits, (SELECT p.hits FROM rate_limit_windows p
                   WHERE p.bucket = $1 AND p.key = $2 AND p.window_start = $4),
          set_config('synchronous_commit', 'off', true)
"""
PRUNE = "DELETE FROM rate_limit_windows WHERE window_start < now() - interval '10 minutes'"


async def hit(pool: asyncpg.Pool, bucket: str, key: str, per_minute: int, now: float | None = None) -> float | None:
    """Count one request; None when it is within the limit, else the seconds to wait."""
    now = time.time() if now is None else now
    start = math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS
    row = await pool.fetchrow(
        _HIT,
        bucket,
        key,
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(start - WINDOW_SECONDS, UTC),
    )
    assert row is not None
    current, previous = int(row[0]), int(row[1] or 0)
    overlap = 1 - (now - start) / WINDOW_SECONDS
    if current + previous * overlap <= per_minute:
        return None
    return max(1.0, math.ceil(_allowed_at(start, current, previous, per_minute) - now))


def _allowed_at(start: float, current: int, previous: int, per_minute: int) -> float:
    """When one more request (counted in its own window) would be within the limit: in this window once
    the previous window's weight has fallen enough, else in the next one once this window's has."""
    if previous and current + 1 <= per_minute:
        return start + WINDOW_SECONDS * (1 - (per_minute - current - 1) / previous)
    weight_left = max(0.0, (per_minute - 1) / current) if current else 1.0
    return start + WINDOW_SECONDS + WINDOW_SECONDS * (1 - min(1.0, weight_left))


def by_subject(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return principal.subject if isinstance(principal, Principal) else "anonymous"


def client_address(request: Request) -> str:
    """The caller's address. With N trusted proxy hops, each of which appends the address it received
    the request from to X-Forwarded-For, that is the N-th entry from the right (entries further left
    are whatever the client wrote). Without trusted hops, the peer's address."""
    peer = request.client.host if request.client else "unknown"
    hops: int = request.app.state.runtime.settings.trusted_proxy_hops
    if hops == 0:
        return peer
    forwarded = [entry.strip() for value in request.headers.getlist("x-forwarded-for") for entry in value.split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if not forwarded:
        return peer
    # Fewer entries than hops: the request passed fewer proxies than configured; the leftmost is the
    # furthest any trusted proxy saw.
    return forwarded[-hops] if len(forwarded) >= hops else forwarded[0]


def by_client(request: Request) -> str:
    return "addr:" + client_address(request)[:64]


def by_path_param(name: str) -> Callable[[Request], str]:
    """Key on a path parameter that identifies a patient's link (hashed: the key is stored, and a
    feedback token is itself a credential)."""

    def key(request: Request) -> str:
        value = str(request.path_params.get(name, ""))
        return f"{name}:" + hashlib.sha256(value.encode()).hexdigest()[:32]

    return key


def rate_limited(bucket: str, per_minute: int, key: Callable[[Request], str] = by_subject) -> Any:
    """A route dependency enforcing `per_minute` requests per key (429 with Retry-After beyond it).
    With the default key it authenticates first, so an anonymous caller gets 401, not a count."""

    async def enforce(request: Request) -> None:
        runtime = request.app.state.runtime
        limit = int(runtime.settings.rate_limits.get(bucket, per_minute))
        wait = await hit(runtime.pool, bucket, key(request), limit)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit exceeded: at most {limit} {bucket} requests per minute; retry in {int(wait)} s",
                headers={"Retry-After": str(int(wait))},
            )

    if key is by_subject:

        async def authenticated_enforce(request: Request, _: Principal = Depends(authenticate)) -> None:
            await enforce(request)

        return Depends(authenticated_enforce)
    return Depends(enforce)
