"""scheduler's HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from frontdesk.common.service import ServiceRuntime, runtime_of

from ..adapters import repository

router = APIRouter(prefix="/v1", tags=["appointments"])


@router.get("/appointments/{appointment_id}")
async def get_appointment(appointment_id: str, runtime: ServiceRuntime = Depends(runtime_of)) -> dict[str, Any]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        appointment = await repository.get_appointment(conn, appointment_id)
    if appointment is None:
        raise HTTPException(404, f"no appointment {appointment_id}")
    return appointment
