"""HTTP commands that happen once: the `Idempotency-Key` header, the caller, the runtime, and the
transaction that runs a command and stores its answer.

An endpoint takes one `CommandRequest` (a FastAPI dependency its service builds with its own
`CommandStore`) and calls `run`: the same key with the same request returns the first answer; the
same key with a different request is a 422. `authorize` runs first in the transaction, before the key
is claimed, so a refused request leaves nothing behind, not even its key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from .auth import CurrentPrincipal, Principal
from .db import Connection
from .service import ServiceRuntime
from .uow import UnitOfWork

# Raises (403/404) when the caller may not run the command; runs in the command's transaction.
Authorize = Callable[[Connection], Awaitable[None]]
# A command's answer: HTTP status and JSON body.
Answer = tuple[int, Any]


async def client_idempotency_key(
    principal: CurrentPrincipal,
    key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Required on every command: the same key and request books once and answers the same.",
        ),
    ],
) -> str:
    """The client's key, made its own: two clients who happen to choose the same key never see each
    other's answers or block each other. A digest, so no token subject reaches a booking's request_id
    (which travels on shared topics)."""
    return hashlib.sha256(f"{principal.subject}\n{key}".encode()).hexdigest()[:40]


IdempotencyKey = Annotated[str, Depends(client_idempotency_key)]


class CommandStore(Protocol):
    """Where a service keeps its commands' answers (an adapter module satisfies it)."""

    async def claim_command(self, conn: Connection, key: str, request_hash: str) -> tuple[int, Any] | str | None:
        """None: new, go ahead. (status, body): the answer it already got. "mismatch": another request."""
        ...

    async def save_command(self, conn: Connection, key: str, status_code: int, body: Any, *, durable: bool) -> None:
        """Store the answer; not `durable`: the commit need not wait for the disk."""
        ...


@dataclass(frozen=True)
class CommandRequest:
    """One HTTP command: who asks, with which key, served by which runtime."""

    request: Request
    key: str
    principal: Principal
    runtime: ServiceRuntime
    store: CommandStore

    async def run(
        self, payload: Any, command: Callable[[UnitOfWork], Awaitable[Answer]], authorize: Authorize | None = None
    ) -> JSONResponse:
        """Run `command` once per idempotency key, in one transaction with its answer."""
        request = self.request
        fingerprint = hashlib.sha256(
            json.dumps([request.method, request.url.path, payload], sort_keys=True, default=str).encode()
        ).hexdigest()
        async with self.runtime.unit_of_work(request.headers.get("traceparent")) as uow:
            if authorize is not None:
                await authorize(uow.conn)
            seen = await self.store.claim_command(uow.conn, self.key, fingerprint)
            if seen == "mismatch":
                return JSONResponse(
                    {"detail": "this Idempotency-Key was already used for a different request"}, status_code=422
                )
            if seen is not None:
                assert not isinstance(seen, str)
                status, body = seen
                return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
            status, body = await command(uow)
            # A refusal changed nothing but its idempotency record: no need to wait for the WAL flush.
            # Were it lost in a crash, a retry would simply be evaluated again (nothing was booked).
            await self.store.save_command(uow.conn, self.key, status, body, durable=status < 400)
        return JSONResponse(body, status_code=status)


def owned(principal: Principal, what: str, clinic_of: Callable[[Connection], Awaitable[str | None]]) -> Authorize:
    """The object `clinic_of` finds must belong to one of the token's clinics (else 404, as if missing)."""

    async def check(conn: Connection) -> None:
        principal.require_owner(await clinic_of(conn), what)

    return check
