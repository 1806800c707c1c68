"""The authorization matrix of test_authz_<service>.py: every operation of a service's OpenAPI document
is tried (a) without a token -> 401, (b) with clinic B's token on clinic A's object or clinic -> 403 or
404 and nothing changed, (c) with A's read-only token -> 403 on a write, (d) with A's token -> 2xx,
(e) with a network-wide token -> 2xx. The document is the checklist: an operation without a row fails.

Also: a rate limit exceeded -> 429 with Retry-After, and after waiting that long the same caller gets
through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from frontdesk.tools.stack import LocalStack, ServiceProcess

from .helpers import uid


@contextlib.contextmanager
def replica_with_limits(stack: LocalStack, service: str, limits: dict[str, int]) -> Iterator[ServiceProcess]:
    """A replica of `service` (same database, so the counts are shared) with tiny rate limits."""
    replica = stack.replica(service, 9)
    replica.env["FRONTDESK_RATE_LIMITS"] = json.dumps(limits)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()


METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Tokens:
    a: dict[str, str]  # clinic A, read and write
    b: dict[str, str]  # clinic B, read and write
    a_read: dict[str, str]  # clinic A, read only
    network: dict[str, str]  # every clinic

    @classmethod
    def issue(cls, stack: LocalStack, clinic_a: str, clinic_b: str) -> Tokens:
        run = uid("authz")  # own subjects: the rate limits count per subject

        def bearer(**kw: Any) -> dict[str, str]:
            return {"Authorization": f"Bearer {stack.api_token(**kw)}"}

        return cls(
            a=bearer(clinics=[clinic_a], subject=f"{run}-a"),
            b=bearer(clinics=[clinic_b], subject=f"{run}-b"),
            a_read=bearer(clinics=[clinic_a], scopes=("read",), subject=f"{run}-a-read"),
            network=bearer(subject=f"{run}-network"),
        )


@dataclass
class Op:
    """One operation, aimed at clinic A's object (or clinic)."""

    method: str
    template: str  # the path as the OpenAPI document names it
    url: str
    json: Any = None
    params: dict[str, str] | None = None
    # A second object for the network-wide token where A's call used the first one up (a close).
    network_url: str | None = None
    # What B's (and the read-only token's) refused call must not change, read as A.
    state: Callable[[], Awaitable[Any]] | None = None
    # Lists filtered to the token's clinics: B gets 2xx, and this says whether B's answer is free of A's.
    b_sees_none_of_a: Callable[[Any], bool] | None = None


def operations(document: dict[str, Any], public: frozenset[str]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path not in public
        for method in item
        if method in METHODS
    }


async def check_matrix(
    service: ServiceProcess, ops: list[Op], tokens: Tokens, public: frozenset[str] = frozenset()
) -> None:
    # The document of the public API is served on the operations port (it lists only public routes).
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
        document = (await http.get(service.ops_url + "/openapi.json")).json()
        assert {(o.method, o.template) for o in ops} == operations(document, public), "a row per operation"
        problems: list[str] = []
        for op in ops:
            problems += await _row(http, op, tokens)
    assert not problems, "\n".join(problems)


async def _row(http: httpx.AsyncClient, op: Op, t: Tokens) -> list[str]:
    name = f"{op.method} {op.template}"
    problems: list[str] = []

    async def call(headers: dict[str, str], url: str | None = None) -> httpx.Response:
        return await http.request(op.method, url or op.url, json=op.json, params=op.params, headers=headers)

    def expect(ok: bool, who: str, r: httpx.Response) -> None:
        if not ok:
            problems.append(f"{name}: {who} -> {r.status_code} {r.text[:200]}")

    r = await call({})
    expect(r.status_code == 401, "no token", r)
    before = await op.state() if op.state else None
    r = await call(t.b)
    if op.b_sees_none_of_a is not None:
        expect(r.is_success and op.b_sees_none_of_a(r.json()), "clinic B's token (filtered list)", r)
    else:
        expect(r.status_code in (403, 404), "clinic B's token", r)
    if op.method != "GET":
        r = await call(t.a_read)
        expect(r.status_code == 403, "A's read-only token", r)
    if op.state is not None and await op.state() != before:
        problems.append(f"{name}: a refused call changed clinic A's data")
    if op.method == "GET":
        r = await call(t.a_read)
        expect(r.is_success, "A's read-only token", r)
    r = await call(t.a)
    expect(r.is_success, "clinic A's token", r)
    r = await call(t.network, op.network_url)
    expect(r.is_success, "the network-wide token", r)
    return problems


async def exceed_then_recover(call: Callable[[], Awaitable[httpx.Response]], limit: int) -> None:
    """Call until refused (within limit + 1 calls: others may have used some of the budget): 429 with a
    Retry-After; after waiting that long the same call gets through."""
    for _ in range(limit + 1):
        r = await call()
        if r.status_code == 429:
            break
        assert r.status_code < 400, (r.status_code, r.text)
    assert r.status_code == 429, "never limited"
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 120, wait
    await asyncio.sleep(wait)
    again = await call()
    assert again.status_code < 400, (again.status_code, again.text)
