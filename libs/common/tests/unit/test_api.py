"""Declared error responses: the OpenAPI document says what the services answer on errors."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from frontdesk.common.api import ErrorBody, error_responses


class Body(BaseModel):
    n: int


def _app() -> FastAPI:
    router = APIRouter(prefix="/v1", responses=error_responses(404, 422))

    @router.post("/things/{thing_id}")
    async def post_thing(thing_id: str, body: Body) -> dict[str, int]:
        if thing_id == "missing":
            raise HTTPException(404, "no thing missing")
        if body.n < 0:
            raise HTTPException(422, "n must not be negative")
        return {"n": body.n}

    app = FastAPI()
    app.include_router(router)
    return app


def test_declared_codes_and_their_body_schema() -> None:
    app = _app()
    responses = app.openapi()["paths"]["/v1/things/{thing_id}"]["post"]["responses"]
    assert set(responses) == {"200", "400", "404", "422"}
    for code in ("400", "404", "422"):
        assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


async def test_every_error_body_fits_the_declared_model() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_app()), base_url="http://test") as client:
        answers = [
            await client.post("/v1/things/missing", json={"n": 1}),  # HTTPException: a message
            await client.post("/v1/things/x", json={"n": -1}),  # a domain rule: a message
            await client.post("/v1/things/x", json={"n": "many"}),  # request validation: a list
            await client.post("/v1/things/x", content=b"\xff{", headers={"content-type": "application/json"}),
        ]
    assert [a.status_code for a in answers] == [404, 422, 422, 400]
    for answer in answers:
        ErrorBody.model_validate(answer.json())
