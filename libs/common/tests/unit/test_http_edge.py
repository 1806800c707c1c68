"""The shared HTTP edge: the body cap, the client address behind proxies, the link keys of rate
limits, and the split between the public and operations ports (issue 16, items 5, 6, 7)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from frontdesk.common.bodylimit import BodyLimit
from frontdesk.common.jsonbodies import LONE_SURROGATE, UnicodeBodies, lone_surrogate
from frontdesk.common.ratelimit import by_path_param, client_address
from frontdesk.common.service import ByPort, ServiceDefinition, ServiceRuntime
from frontdesk.common.settings import ServiceSettings

LIMIT = 4096


def reading_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(BodyLimit, max_bytes=LIMIT)
    return app


async def post(app: FastAPI, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.post("/echo-size", content=content)


async def test_issue16_item5_a_declared_length_over_the_cap_is_refused_unread() -> None:
    assert (await post(reading_app(), b"x" * LIMIT)).json() == {"size": LIMIT}
    refused = await post(reading_app(), b"x" * (LIMIT + 1))
    assert refused.status_code == 413
    assert refused.json() == {"detail": f"request body too large: at most {LIMIT} bytes"}


async def test_issue16_item5_a_chunked_body_is_capped_while_it_streams() -> None:
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # 10 MB, no Content-Length
            yield b"y" * 1000

    # The handler's read stops at the cap (the rest is drained and thrown away, never held).
    refused = await post(reading_app(), endless())
    assert refused.status_code == 413
    assert refused.json() == {"detail": f"request body too large: at most {LIMIT} bytes"}


async def test_issue16_item5_a_middleware_reading_too_much_gets_a_413_not_a_500() -> None:
    app = FastAPI()

    @app.middleware("http")
    async def greedy(request: Request, call_next):  # type: ignore[no-untyped-def]
        await request.body()
        return await call_next(request)

    app.add_middleware(BodyLimit, max_bytes=LIMIT)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"z" * 1000

    assert (await post(app, chunks())).status_code == 413


def address_app(hops: int) -> FastAPI:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(trusted_proxy_hops=hops))

    @app.get("/whoami/{code}")
    async def whoami(request: Request) -> dict[str, str]:
        return {"address": client_address(request), "link": by_path_param("code")(request)}

    return app


async def whoami(hops: int, forwarded: list[str], code: str = "abc") -> dict[str, str]:
    transport = httpx.ASGITransport(app=address_app(hops), client=("10.0.0.9", 1234))
    headers = [("X-Forwarded-For", value) for value in forwarded]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(f"/whoami/{code}", headers=headers)
        answer: dict[str, str] = response.json()
        return answer


@pytest.mark.parametrize(
    ("hops", "forwarded", "address"),
    [
        (0, [], "10.0.0.9"),
        (0, ["203.0.113.5"], "10.0.0.9"),  # no trusted proxy: the header is the client's own text
        (1, [], "10.0.0.9"),
        (1, ["203.0.113.5"], "203.0.113.5"),
        (1, ["6.6.6.6, 203.0.113.5"], "203.0.113.5"),  # the client's own prefix changes nothing
        (1, ["6.6.6.6", "203.0.113.5"], "203.0.113.5"),  # several header lines are one list
        (2, ["6.6.6.6, 203.0.113.5, 10.1.1.1"], "203.0.113.5"),  # a CDN, then the ingress
        (2, ["203.0.113.5"], "203.0.113.5"),  # fewer entries than hops: the furthest one
    ],
)
async def test_issue16_item6_the_client_address_counts_only_trusted_hops(
    hops: int, forwarded: list[str], address: str
) -> None:
    assert (await whoami(hops, forwarded))["address"] == address


async def test_issue16_item6_a_link_key_is_the_link_hashed() -> None:
    one, again, other = (
        await whoami(0, [], "Abc123xyz"),
        await whoami(1, ["1.2.3.4"], "Abc123xyz"),
        await whoami(0, [], "Abc123xyZ"),
    )
    assert one["link"] == again["link"] != other["link"]
    assert "Abc123xyz" not in one["link"]  # a feedback token is a credential: never stored as is


async def test_issue16_item7_the_public_port_serves_no_operations_endpoints() -> None:
    settings = ServiceSettings(service="t", http_port=18080, ops_port=18081, database_url="postgresql://x@127.0.0.1/x")
    runtime = ServiceRuntime(ServiceDefinition(name="t", handlers={}), settings)
    app = runtime.create_asgi()
    assert isinstance(app, ByPort)

    async def get(port: int, path: str) -> int:
        async def on_port(scope, receive, send):  # type: ignore[no-untyped-def]
            await app({**scope, "server": ("127.0.0.1", port)}, receive, send)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=on_port), base_url="http://t") as client:
            return (await client.get(path)).status_code

    for path in ("/metrics", "/openapi.json", "/docs", "/healthz"):
        assert await get(18080, path) == 404, path
    for path in ("/metrics", "/openapi.json", "/docs", "/healthz"):
        assert await get(18081, path) == 200, path
    assert await get(18081, "/v1/clinics") == 404  # and the operations port serves no API
    assert await get(18080, "/v1/clinics") != 404  # (401, or 503 here: no audit database)
    with pytest.raises(ValueError, match="must differ"):
        ServiceRuntime(
            ServiceDefinition(name="t", handlers={}), settings.model_copy(update={"ops_port": 18080})
        ).create_asgi()


@pytest.mark.parametrize(
    ("body", "lone"),
    [
        (b'{"name": "Ana \\ud800"}', True),  # a high half alone
        (b'{"name": "\\udc00 Ana"}', True),  # a low half alone
        (b'{"\\ud800": 1}', True),  # in a key
        (b'{"a": [[{"b": "\\uDBFF"}]]}', True),  # nested, upper case
        (b'{"name": "\\ud83d\\ude00"}', False),  # a pair: one emoji
        (b'{"name": "\\\\ud800"}', False),  # an escaped backslash, then the letters u d 8 0 0
        (b'{"name": "Ana"}', False),
        (b"\\ud800 is not JSON", False),  # the route's own parsing answers that
    ],
)
def test_a_lone_surrogate_escape_is_told_from_a_pair(body: bytes, lone: bool) -> None:
    assert lone_surrogate(body) is lone


class NameBody(BaseModel):
    name: str


def surrogate_app() -> FastAPI:
    app = FastAPI()

    @app.post("/names")
    async def names(body: NameBody) -> dict[str, str]:
        return {"sha": hashlib.sha256(body.name.encode()).hexdigest()}  # raised here before: a 500

    app.add_middleware(UnicodeBodies)
    app.add_middleware(BodyLimit, max_bytes=LIMIT)
    return app


async def test_a_json_body_with_a_lone_surrogate_is_a_400_before_the_route_sees_it() -> None:
    async def in_pieces() -> AsyncIterator[bytes]:
        for piece in (b'{"name": "Ana \\ud', b"800", b'"}'):  # the escape split across chunks
            yield piece

    transport = httpx.ASGITransport(app=surrogate_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for body in (b'{"name": "Ana \\ud800"}', in_pieces()):
            refused = await client.post("/names", content=body, headers={"content-type": "application/json"})
            assert (refused.status_code, refused.json()) == (400, {"detail": LONE_SURROGATE})
        emoji = b'{"name": "Ana \\ud83d\\ude00"}'
        served = await client.post("/names", content=emoji, headers={"content-type": "application/json"})
        assert served.status_code == 200
        assert served.json()["sha"] == hashlib.sha256("Ana \U0001f600".encode()).hexdigest()
