"""followup's HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from frontdesk.common.service import ServiceRuntime, runtime_of

from ..adapters import repository

router = APIRouter(prefix="/v1", tags=["followups"])


@router.get("/patients/{patient_id}/followups")
async def patient_followups(patient_id: str, runtime: ServiceRuntime = Depends(runtime_of)) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await repository.for_patient(conn, patient_id)
