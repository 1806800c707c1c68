"""call-router's HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from frontdesk.common.service import ServiceRuntime, runtime_of

from ..adapters import repository

router = APIRouter(prefix="/v1", tags=["calls"])


@router.get("/calls/{call_id}")
async def get_call(call_id: str, runtime: ServiceRuntime = Depends(runtime_of)) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        call = await repository.get_call(conn, call_id)
    if call is None:
        raise HTTPException(404, f"no call {call_id}")
    return call
