"""reviews' HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from frontdesk.common.service import ServiceRuntime, runtime_of

from ..adapters import repository

router = APIRouter(prefix="/v1", tags=["reviews"])


@router.get("/visits/{visit_id}/review-requests")
async def visit_review_requests(visit_id: str, runtime: ServiceRuntime = Depends(runtime_of)) -> list[dict[str, Any]]:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await repository.for_visit(conn, visit_id)
