"""call-router's HTTP API: calls, presence, per-hour metrics and the Erlang C staffing forecast.

Authorization (bearer token, per clinic): a clinic in the path needs a token for it (403, checked
before anything is looked up); a call or a vendor message is found only by a token of its clinic
(404 otherwise, as if unknown). Reports over many hours or weeks of calls are rate limited."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from frontdesk.common.api import error_responses
from frontdesk.common.auth import CurrentPrincipal
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig, MessageAcknowledged, StaffingForecast, StaffingHour
from frontdesk.common.contracts.base import Id
from frontdesk.common.db import Connection
from frontdesk.common.pagination import Page, array_page
from frontdesk.common.ratelimit import rate_limited
from frontdesk.common.service import Runtime

from ..adapters import messages as message_store
from ..adapters import pages, repository
from ..adapters import reports as report_rows
from ..domain import CallRecord, HourOfWeek, ObservedCall, hour_metrics, weekly_forecast

router = APIRouter(prefix="/v1", tags=["calls"], responses=error_responses(403, 404, 409, 422))
# Metrics and forecasts scan up to a month (metrics) or a year (forecasts) of a clinic's calls.
reports = rate_limited("call-reports", per_minute=120)


async def _clinic(conn: Connection, clinic_id: str) -> ClinicConfig:
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        raise HTTPException(404, f"no clinic {clinic_id} (not configured, or not yet seen by call-router)")
    return clinic


@router.get("/calls/{call_id}")
async def get_call(call_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, Any]:
    """One call: its status, current route, attempts, and outcome timestamps; for an urgent call,
    its on-call paging (`page`: pages requested, who acknowledged, when, and how long it took)."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        call = await report_rows.call_document(conn, call_id)
        page = await pages.get(conn, call_id)
    principal.require_owner(call["clinic_id"] if call else None, "call")
    assert call is not None
    if page is not None:
        acked = page["acknowledged_at"]
        took = (acked - page["paging_started_at"]).total_seconds() if acked else None
        page = {k: page[k] for k in ("status", "paging_started_at", "pages_requested", "acknowledged_at")} | {
            "acknowledged_by": page["acknowledged_by"],
            "seconds_to_acknowledge": took,
        }
    return {**call, "page": page}


@router.get("/clinics/{clinic_id}/agents")
async def get_agents(
    clinic_id: str, principal: CurrentPrincipal, runtime: Runtime, page: Page, request: Request, response: Response
) -> list[dict[str, Any]]:
    """Receptionist presence as the router sees it (including auto-pauses and who is ringing), by
    receptionist id (a page: see `X-Next-Cursor`)."""
    principal.require_clinic(clinic_id)
    (after,) = page.after(str)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        await _clinic(conn, clinic_id)
        rows = await report_rows.agents_of(conn, clinic_id, after, page.fetch)
    return array_page(request, response, page, rows, lambda row: [row["receptionist_id"]])


@router.get("/clinics/{clinic_id}/metrics", dependencies=[reports], responses=error_responses(429))
async def get_metrics(
    clinic_id: str,
    principal: CurrentPrincipal,
    runtime: Runtime,
    start: Annotated[
        AwareDatetime | None, Query(description="First hour (UTC hour boundary); default: now - hours")
    ] = None,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> dict[str, Any]:
    """Per clinic and hour: offered, answered within the ring budget, service level, ASA,
    abandonment, overflow rate, after-hours share, missed offers; plus the longest current wait."""
    principal.require_clinic(clinic_id)
    assert runtime.pool is not None
    now = datetime.now(UTC)
    first = report_rows.hour_floor((start or now - timedelta(hours=hours - 1)).astimezone(UTC))
    async with runtime.pool.acquire() as conn:
        clinic = await _clinic(conn, clinic_id)
        rows = await report_rows.calls_between(conn, clinic_id, first, first + timedelta(hours=hours))
        oldest = await repository.oldest_waiting(conn, clinic_id)
    budget = clinic.phone.ring_budget_seconds
    buckets: dict[datetime, list[CallRecord]] = {first + timedelta(hours=i): [] for i in range(hours)}
    for r in rows:
        buckets[report_rows.hour_floor(r["received_at"].astimezone(UTC))].append(CallRecord(**r))
    return {
        "clinic_id": clinic_id,
        "ring_budget_seconds": budget,
        "longest_current_wait_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "hours": [{"hour": hour, **asdict(hour_metrics(calls, budget))} for hour, calls in buckets.items()],
    }


class ForecastParams(BaseModel):
    weeks: int = Field(4, ge=1, le=52, description="Weeks of history to average")
    target_service_level: float = Field(0.9, gt=0, lt=1)
    target_seconds: float | None = Field(None, gt=0, description="Default: the clinic's ring budget")
    shrinkage: float = Field(0.0, ge=0, lt=1, description="Share of paid time off the phones (breaks, admin)")
    default_aht_seconds: float = Field(180.0, gt=0, description="Handle time to assume with no history")


async def _forecast(conn: Connection, clinic_id: str, p: ForecastParams) -> tuple[ClinicConfig, list[HourOfWeek]]:
    clinic = await _clinic(conn, clinic_id)
    end = datetime.now(UTC)
    rows = await report_rows.calls_between(conn, clinic_id, end - timedelta(weeks=p.weeks), end)
    observed = []
    for r in rows:
        local = r["received_at"].astimezone(clinic.zone)
        handle = (r["ended_at"] - r["answered_at"]).total_seconds() if r["ended_at"] and r["answered_at"] else None
        observed.append(ObservedCall(local.weekday(), local.hour, handle))
    target_seconds = p.target_seconds or clinic.phone.ring_budget_seconds
    return clinic, weekly_forecast(
        observed, p.weeks, p.target_service_level, target_seconds, p.shrinkage, p.default_aht_seconds
    )


def _hours(rows: list[HourOfWeek]) -> list[StaffingHour]:
    return [
        StaffingHour(
            weekday=r.weekday,
            hour=r.hour,
            arrivals_per_hour=r.arrivals_per_hour,
            aht_seconds=r.aht_seconds,
            agents=r.staffing.agents,
            scheduled=r.staffing.scheduled,
            service_level=min(max(r.staffing.service_level, 0.0), 1.0),
        )
        for r in rows
    ]


@router.get("/clinics/{clinic_id}/staffing", dependencies=[reports], responses=error_responses(429))
async def get_staffing(
    clinic_id: str, principal: CurrentPrincipal, runtime: Runtime, params: Annotated[ForecastParams, Query()]
) -> dict[str, Any]:
    """Erlang C: receptionists needed per local hour of the week, from observed arrivals and handle time."""
    principal.require_clinic(clinic_id)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        clinic, rows = await _forecast(conn, clinic_id, params)
    return {
        "clinic_id": clinic_id,
        "timezone": clinic.timezone,
        **params.model_dump(),
        "target_seconds": params.target_seconds or clinic.phone.ring_budget_seconds,
        "hours": [h.model_dump() for h in _hours(rows)],
    }


@router.post(
    "/clinics/{clinic_id}/staffing/forecasts",
    status_code=201,
    dependencies=[reports],
    responses=error_responses(429),
)
async def publish_staffing(
    clinic_id: str, params: ForecastParams, principal: CurrentPrincipal, runtime: Runtime
) -> dict[str, Any]:
    """Compute the forecast and publish it as a staffing.forecast event (through the outbox)."""
    principal.require_clinic(clinic_id)
    async with runtime.unit_of_work() as uow:
        clinic, rows = await _forecast(uow.conn, clinic_id, params)
        event = StaffingForecast(
            forecast_id=f"fc-{uuid.uuid4().hex[:16]}",
            clinic_id=clinic_id,
            generated_at=datetime.now(UTC),
            weeks=params.weeks,
            target_service_level=params.target_service_level,
            target_seconds=params.target_seconds or clinic.phone.ring_budget_seconds,
            shrinkage=params.shrinkage,
            hours=_hours(rows),
        )
        await uow.emit(event)
    return event.model_dump(mode="json")


# --- vendor messages: the routine digest and its acknowledgements -----------------------------------


@router.get("/messages/{message_id}")
async def get_message(message_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict[str, Any]:
    """One vendor message: urgency, category, paging progress or digest delivery, acknowledgement."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        row = await message_store.get_message(conn, message_id)
    principal.require_owner(row["clinic_id"] if row else None, "message")
    assert row is not None
    return row


@router.get("/clinics/{clinic_id}/digest")
async def get_digest(
    clinic_id: str,
    principal: CurrentPrincipal,
    runtime: Runtime,
    page: Page,
    include_acknowledged: Annotated[bool, Query(description="Also list messages already acknowledged")] = False,
) -> dict[str, Any]:
    """The clinic's delivered digest messages (released when it opened), waiting for acknowledgement,
    oldest first; `next_cursor` continues the list (null on its last page)."""
    principal.require_clinic(clinic_id)
    after = page.after(datetime.fromisoformat, str)
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        await _clinic(conn, clinic_id)
        rows = await message_store.clinic_digest(
            conn, clinic_id, include_acknowledged=include_acknowledged, after=after, limit=page.fetch
        )
    messages, next_cursor = page.cut(rows, lambda row: [row["taken_at"], row["message_id"]])
    return {"clinic_id": clinic_id, "messages": messages, "next_cursor": next_cursor}


class Acknowledgement(BaseModel):
    staff_id: Id | None = Field(
        None, description="Deprecated: who acknowledges is the token's subject (403 if another is named)"
    )


@router.post("/clinics/{clinic_id}/digest/{message_id}/acknowledgements")
async def acknowledge_message(
    clinic_id: str,
    message_id: str,
    principal: CurrentPrincipal,
    runtime: Runtime,
    body: Annotated[Acknowledgement | None, Body()] = None,
) -> dict[str, Any]:
    """A staff member acknowledges one delivered digest message (published as
    answering.message_acknowledged). Who acknowledged is the token's subject. Acknowledging again
    changes nothing and returns the first one."""
    principal.require_clinic(clinic_id)
    staff_id = principal.author(body.staff_id if body else None)
    async with runtime.unit_of_work() as uow:
        await repository.lock_clinic(uow.conn, clinic_id)
        row = await message_store.get_message(uow.conn, message_id, for_update=True)
        if row is None or row["clinic_id"] != clinic_id or row["digest_id"] is None:
            raise HTTPException(404, f"no digest message {message_id} for clinic {clinic_id}")
        if row["status"] == "pending":
            raise HTTPException(
                409, f"message {message_id} is not delivered yet: its digest is released when the clinic opens"
            )
        if row["status"] == "acknowledged":
            return {
                "message_id": message_id,
                "acknowledged_by": row["acknowledged_by"],
                "acknowledged_at": row["acknowledged_at"],
                "already_acknowledged": True,
            }
        now = datetime.now(UTC)
        await message_store.acknowledge(uow.conn, message_id, staff_id, now)
        await uow.emit(
            MessageAcknowledged(
                message_id=message_id,
                digest_id=row["digest_id"],
                clinic_id=clinic_id,
                staff_id=staff_id,
                acknowledged_at=now,
            )
        )
    return {
        "message_id": message_id,
        "acknowledged_by": staff_id,
        "acknowledged_at": now,
        "already_acknowledged": False,
    }
