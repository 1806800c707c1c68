"""The audit middleware: what it records, and that nothing is answered when it cannot record."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request

from frontdesk.common.audit import AuditTrail
from frontdesk.common.auth import Principal


class FakePool:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.fail = fail

    async def execute(self, _sql: str, *args: Any) -> str:
        if self.fail:
            raise ConnectionError("database down")
        self.rows.append(args)
        return "INSERT 0 1"


def app_with(pool: FakePool) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/appointments/{appointment_id}")
    async def read(appointment_id: str, request: Request) -> dict[str, str]:
        request.state.principal = Principal("ana", frozenset({"c1"}), frozenset({"read"}))
        return {"appointment_id": appointment_id, "patient": "p-1"}

    @app.post("/v1/feedback/{token}")
    async def feedback(token: str) -> dict[str, str]:
        return {"ok": token[:0]}

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"alive": True}

    app.add_middleware(AuditTrail, service="scheduler", pool=lambda: pool)  # type: ignore[arg-type]
    return app


def client(pool: FakePool) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with(pool)), base_url="http://test")


async def test_each_request_is_recorded_with_who_what_and_outcome() -> None:
    pool = FakePool()
    async with client(pool) as http:
        trace = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        assert (await http.get("/v1/appointments/a-1?clinic_id=c1", headers={"traceparent": trace})).status_code == 200
        assert (await http.post("/v1/feedback/secret-link-token")).status_code == 200
        assert (await http.get("/v1/nowhere")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200  # operations endpoints are not audited
    read, change, missing = pool.rows
    assert read == (
        "scheduler",
        "ana",
        "read",
        "GET",
        "/v1/appointments/{appointment_id}",
        {"appointment_id": "a-1"},
        "c1",
        200,
        "a" * 32,
    )
    assert change[1:5] == ("anonymous", "change", "POST", "/v1/feedback/{token}")
    assert change[5]["token"].startswith("sha256:") and "secret" not in str(change)  # a link is a credential
    assert missing[4:8] == ("(no route)", {}, None, 404)


async def test_no_answer_leaves_without_its_audit_record() -> None:
    async with client(FakePool(fail=True)) as http:
        response = await http.get("/v1/appointments/a-1")
    assert response.status_code == 503
    assert response.json() == {"detail": "the audit trail is unavailable; try again"}
    assert "p-1" not in response.text


def body_app(pool: FakePool) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/holds")
    async def hold(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/fhir/R4/Appointment")
    async def search() -> dict[str, str]:
        return {"resourceType": "Bundle"}

    app.add_middleware(AuditTrail, service="scheduler", pool=lambda: pool)  # type: ignore[arg-type]
    return app


async def test_issue16_item8_the_clinic_of_a_json_body_and_a_fhir_search_are_recorded() -> None:
    pool = FakePool()
    transport = httpx.ASGITransport(app=body_app(pool))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.post("/v1/holds", json={"clinic_id": "c9", "patient_id": "p-1"})
        await http.post("/v1/holds", json={"clinic_id": 7})  # not a clinic id: nothing recorded
        await http.post("/v1/holds", content=b'{"clinic_id": "c9"}', headers={"content-type": "text/plain"})
        await http.post("/v1/holds", json={"clinic_id": "c9", "pad": "x" * 70_000})  # too large to look into
        await http.post("/v1/holds", content=b"{not json", headers={"content-type": "application/json"})
        deep = b"[" * 40_000  # deeper than the JSON parser recurses (and under the 64 kB kept): still recorded
        assert (await http.post("/v1/holds", content=deep, headers={"content-type": "application/json"})).is_success
        await http.post("/v1/holds?clinic_id=c%00x", json={})  # NUL: PostgreSQL would refuse the row
        await http.post("/v1/holds", content=b'{"clinic_id": "c\\ud800"}', headers={"content-type": "application/json"})
        await http.get("/fhir/R4/Appointment?patient=Patient/p-7&date=ge2030-01-01&date=le2030-02-01")
        await http.get("/fhir/R4/Appointment?patient=%00")
    clinics = [row[6] for row in pool.rows]
    assert clinics == ["c9", None, None, None, None, None, "c\ufffdx", "c?", None, None]
    assert pool.rows[-2][5] == {"search": {"patient": ["Patient/p-7"], "date": ["ge2030-01-01", "le2030-02-01"]}}
    assert pool.rows[-1][5] == {"search": {"patient": ["\ufffd"]}}
    assert pool.rows[0][5] == {}  # the body's patient is not copied into the trail
