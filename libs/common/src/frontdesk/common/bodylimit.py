"""A cap on request bodies, enforced before anything reads them (every route of every service).

A declared Content-Length above the cap is answered 413 at once, before a byte of the body is read
and before authentication. A body without one (chunked) is counted as it streams in: the read that
crosses the cap raises a 413 HTTPException inside whatever is reading the body (FastAPI's body
parsing, `request.body()`), so the process never holds more than the cap plus one chunk. Installed as
the outermost middleware, so that a middleware reading the body is capped too (and its 413 does not
become a 500).

Before the 413's last byte, the rest of the body is read and thrown away for up to DRAIN_SECONDS (a
"lingering close", as nginx does): closing a socket with unread data resets the connection, and the
reset can destroy the answer before a client that is still sending has read it.
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(limit: int) -> str:
    return f"request body too large: at most {limit} bytes"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


DRAIN_SECONDS = 5.0


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(receive, send)
            return
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def answered(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            if over and message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({**message, "more_body": True})
                await _drain(receive)
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        try:
            await self.app(scope, counted, answered)
        except BodyTooLarge:
            # Raised where no exception handler answers it (a middleware reading the body).
            if started:
                raise
            await self._refuse(receive, send)

    async def _refuse(self, receive: Receive, send: Send) -> None:
        body = json.dumps({"detail": too_large_message(self.max_bytes)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await _drain(receive)
        await send({"type": "http.response.body", "body": b""})


async def _drain(receive: Receive) -> None:
    """Read and discard what is left of the request body, for at most DRAIN_SECONDS."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
    except TimeoutError:
        return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server itself refuses a malformed Content-Length
    return None
