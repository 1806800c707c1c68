"""The audit trail: one row in `audit.log` for every API request, before its answer leaves.

An ASGI middleware rather than a call in each endpoint, so no route can forget it: it records who
(the token's subject, or 'anonymous'), what (method, route template, the ids in the path, and for a
FHIR search its parameters: whose appointments were looked for), for which clinic (from the path, the
query or a JSON body's top-level `clinic_id`), and the status the API answered, including refusals
(401/403/404 are what an auditor looks for). The row is written when the response starts; if it
cannot be written the caller gets a 503 instead of the data, so nothing is read without a trace.
(A change has committed by then: its Idempotency-Key retry replays the answer and is audited.)

The table lives in the `audit` schema, which the application's database role may insert into and
read, but not update, delete or truncate (see provision.py and docs/operations.md); a trigger chains
the rows by hash (migrations/004_audit_chain.sql, verified by audit_chain.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

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
# Searches whose parameters say whose records were read (FHIR: patient=, practitioner=, schedule=).
SEARCH_PREFIXES = ("/fhir/",)
MAX_PARAMS, MAX_VALUE = 20, 200
# A JSON body is kept (to find its clinic) up to this size; a larger one is the API's to refuse.
MAX_BODY = 64 * 1024

INSERT = (
    "INSERT INTO audit.log (service, subject, action, method, route, resource, clinic_id, status, trace_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


def storable(value: Any) -> str:
    """What the request said, storable: capped, without NUL (PostgreSQL text and jsonb refuse it) and
    without lone surrogates (JSON allows them, UTF-8 does not). A request is recorded whatever it holds:
    an unstorable row would turn its answer into a 503."""
    text = str(value)[:MAX_VALUE].replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def _resource(scope: Scope, path_params: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        name: ("sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:16])
        if name in SECRET_PARAMS
        else storable(value)
        for name, value in path_params.items()
    }
    if scope["path"].startswith(SEARCH_PREFIXES):
        query: bytes = scope.get("query_string", b"")
        search: dict[str, list[str]] = {}
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)[:MAX_PARAMS]:
            search.setdefault(storable(name), []).append(storable(value))
        if search:
            resource["search"] = search
    return resource


def _clinic(scope: Scope, path_params: dict[str, Any], body: bytes) -> str | None:
    if "clinic_id" in path_params:
        return storable(path_params["clinic_id"])
    query: bytes = scope.get("query_string", b"")
    for name, value in parse_qsl(query.decode("latin-1")):
        if name == "clinic_id" and value:
            return storable(value)
    return _body_clinic(scope, body)


def _body_clinic(scope: Scope, body: bytes) -> str | None:
    headers = dict(scope.get("headers") or [])
    if not body or b"json" not in headers.get(b"content-type", b""):
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: no clinic to see
        return None
    clinic = document.get("clinic_id") if isinstance(document, dict) else None
    return storable(clinic) if isinstance(clinic, str) and clinic else None


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
        request_body = bytearray()  # up to MAX_BODY + 1 bytes: one more says "too large to look at"

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) <= MAX_BODY:
                request_body.extend(message.get("body", b"")[: MAX_BODY + 1 - len(request_body)])
            return message

        async def send_after_audit(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                try:
                    kept = bytes(request_body) if len(request_body) <= MAX_BODY else b""
                    await self.record(scope, int(message["status"]), kept)
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

        await self.app(scope, receive_and_keep, send_after_audit)

    async def record(self, scope: Scope, status: int, body: bytes = b"") -> None:
        pool = self.pool()
        if pool is None:
            raise RuntimeError("no database pool")
        state = scope.get("state") or {}
        principal = state.get("principal")
        route = scope.get("route")
        path_params: dict[str, Any] = scope.get("path_params") or {}
        headers = dict(scope.get("headers") or [])
        trace = TraceContext.parse(headers.get(b"traceparent", b"").decode("latin-1") or None)
        await write(
            pool,
            self.service,
            principal.subject if isinstance(principal, Principal) else "anonymous",
            "read" if scope["method"] in ("GET", "HEAD") else "change",
            scope["method"],
            getattr(route, "path", None) or "(no route)",
            _resource(scope, path_params),
            _clinic(scope, path_params, body),
            status,
            trace.trace_id if trace else None,
        )


async def write(
    pool: asyncpg.Pool,
    service: str,
    subject: str,
    action: str,
    method: str,
    route: str,
    resource: dict[str, Any],
    clinic_id: str | None,
    status: int,
    trace_id: str | None = None,
) -> None:
    """One row of the trail: the API's requests (AuditTrail), and what arrives by other transports
    (the scheduler's MLLP listener: method "MLLP")."""
    await pool.execute(INSERT, service, subject, action, method, route, resource, clinic_id, status, trace_id)
