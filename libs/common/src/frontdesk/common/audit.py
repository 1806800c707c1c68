"""The audit trail: one row in `audit.log` for every API request, before its answer leaves.

An ASGI middleware rather than a call in each endpoint, so no route can forget it: it records who
(the token's subject, or 'anonymous'), what (method, route template, the ids in the path), for which
clinic, and the status the API answered, including refusals (401/403/404 are what an auditor looks
for). The row is written when the response starts; if it cannot be written the caller gets a 503
instead of the data, so nothing is read without a trace. (A change has committed by then: its
Idempotency-Key retry replays the answer and is audited.)

The table lives in the `audit` schema, which the application's database role may insert into and
read, but not update, delete or truncate (see db.py / provisioning and docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg

from .auth import Principal
from .cloudevents import TraceContext
from .logging import get_logger

log = get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Operations endpoints and API documentation carry no patient data.
UNAUDITED = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
# Path parameters that are credentials themselves (signed links): keep a fingerprint, not the secret.
SECRET_PARAMS = frozenset({"token", "code"})

INSERT = (
    "INSERT INTO audit.log (service, subject, action, method, route, resource, clinic_id, status, trace_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


def _resource(path_params: dict[str, Any]) -> dict[str, str]:
    return {
        name: ("sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:16])
        if name in SECRET_PARAMS
        else str(value)
        for name, value in path_params.items()
    }


def _clinic(scope: Scope, path_params: dict[str, Any]) -> str | None:
    if "clinic_id" in path_params:
        return str(path_params["clinic_id"])
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name == "clinic_id" and value:
            return str(value[:200])
    return None


class AuditTrail:
    def __init__(self, app: ASGIApp, service: str, pool: Callable[[], asyncpg.Pool | None]) -> None:
        self.app = app
        self.service = service
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNAUDITED):
            await self.app(scope, receive, send)
            return
        refused = False

        async def send_after_audit(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                try:
                    await self.record(scope, int(message["status"]))
                except Exception as exc:  # noqa: BLE001 - no trace, no answer
                    log.error("audit record failed; answering 503", error=type(exc).__name__)
                    refused = True
                    body = json.dumps({"detail": "the audit trail is unavailable; try again"}).encode()
                    headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
                    await send({"type": "http.response.start", "status": 503, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            elif refused:
                return
            await send(message)

        await self.app(scope, receive, send_after_audit)

    async def record(self, scope: Scope, status: int) -> None:
        pool = self.pool()
        if pool is None:
            raise RuntimeError("no database pool")
        state = scope.get("state") or {}
        principal = state.get("principal")
        route = scope.get("route")
        path_params: dict[str, Any] = scope.get("path_params") or {}
        headers = dict(scope.get("headers") or [])
        trace = TraceContext.parse(headers.get(b"traceparent", b"").decode("latin-1") or None)
        await pool.execute(
            INSERT,
            self.service,
            principal.subject if isinstance(principal, Principal) else "anonymous",
            "read" if scope["method"] in ("GET", "HEAD") else "change",
            scope["method"],
            getattr(route, "path", None) or "(no route)",
            _resource(path_params),
            _clinic(scope, path_params),
            status,
            trace.trace_id if trace else None,
        )
