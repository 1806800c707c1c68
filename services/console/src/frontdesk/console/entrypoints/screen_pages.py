"""The read-only clinic screens beyond Now: Today's schedule and Trends, each a page and its live
stream (the same rules as Now: a session, the clinic in its scope, 403 otherwise; the live region
re-rendered when the clinic's version moves)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from frontdesk.common.db import Connection

from .. import schedule, trends
from ..adapters import repository
from .pages import _forbidden, _page, _pool, _stream, _to_sign_in, current_session, now, templates
from .trend_charts import trend_charts

router = APIRouter(tags=["console"], include_in_schema=False)
Build = Callable[[Connection, str, datetime], Awaitable[Any]]
SCREENS: dict[str, tuple[Build, str]] = {
    "schedule": (schedule.schedule_screen, "schedule"),
    "trends": (trends.trends_screen, "trends"),
}
templates.env.globals["trend_charts"] = trend_charts


async def _screen_page(request: Request, clinic_id: str, name: str) -> Response:
    session = current_session(request)
    if session is None:
        return _to_sign_in()
    if not session.can_see(clinic_id):
        return _forbidden(request, session, clinic_id)
    build, template = SCREENS[name]
    async with _pool(request).acquire() as conn:
        screen = await build(conn, clinic_id, now())
    if screen is None:
        message = f"The console has no configuration for clinic {clinic_id} (yet)."
        return _page(request, "error.html", 404, session=session, title="Unknown clinic", message=message)
    return _page(request, f"{template}.html", session=session, screen=screen)


async def _screen_live(request: Request, clinic_id: str, name: str) -> Response:
    session = current_session(request)
    if session is None:
        raise HTTPException(401, "no valid session: sign in again")
    if not session.can_see(clinic_id):
        raise HTTPException(403, f"this session is not scoped to clinic {clinic_id}")
    build, template = SCREENS[name]

    async def render() -> str | None:
        async with _pool(request).acquire() as conn:
            screen = await build(conn, clinic_id, now())
        return None if screen is None else templates.get_template(f"{template}_live.html").render(screen=screen)

    async def version() -> int:
        async with _pool(request).acquire() as conn:
            return (await repository.activity(conn, clinic_id)).version

    return _stream(request, session, render, version)


@router.get("/clinics/{clinic_id}/schedule", response_class=HTMLResponse)
async def schedule_page(request: Request, clinic_id: str) -> Response:
    return await _screen_page(request, clinic_id, "schedule")


@router.get("/clinics/{clinic_id}/schedule/live")
async def schedule_live(request: Request, clinic_id: str) -> Response:
    return await _screen_live(request, clinic_id, "schedule")


@router.get("/clinics/{clinic_id}/trends", response_class=HTMLResponse)
async def trends_page(request: Request, clinic_id: str) -> Response:
    return await _screen_page(request, clinic_id, "trends")


@router.get("/clinics/{clinic_id}/trends/live")
async def trends_live(request: Request, clinic_id: str) -> Response:
    return await _screen_live(request, clinic_id, "trends")
