"""JSON request bodies must be Unicode text: a lone surrogate escape is refused with a 400.

JSON lets a string spell a UTF-16 half, `"\\ud800"`, alone; Python's json module turns it into a str
that no UTF-8 encoder takes. FastAPI parses and validates such a body, and whatever then encodes the
string (PostgreSQL's driver, an event's JSON, a hash of a SIP Call-ID) raises: a 500, possibly after
part of the work was done. Refused here, before any route sees the body, in the one place every body
passes. Only a body that holds a surrogate escape at all is parsed a second time, to tell a lone one
from a pair (an emoji written as two escapes is fine).
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A surrogate escape (either half); the parse decides whether it is part of a pair.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
LONE_SURROGATE = "the JSON body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff): strings must be valid Unicode"


def lone_surrogate(body: bytes) -> bool:
    """Whether `body`, JSON, has a string (or a key) that is not valid Unicode. Not JSON: False (the
    route's own parsing answers that)."""
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


class UnicodeBodies:
    """Holds back a request body's last chunk until the whole body is known to be valid Unicode (the
    body is capped by BodyLimit, outside this middleware, so what is kept is bounded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and lone_surrogate(b"".join(chunks)):
                    raise HTTPException(400, LONE_SURROGATE)
            return message

        await self.app(scope, checked, send)
