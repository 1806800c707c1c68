"""The screens' use cases: read the model, compute what the page shows (domain/board.py), no HTML.

now_screen(clinic)  -> open calls (waiting, ringing, with a vendor), today's hand-overs, presence,
                       today's metrics in the clinic's own zone, when its last event arrived.
network_screen(ids) -> one row per clinic with today's metrics, callbacks, open worklist items and
                       service level per local hour (the heat map), sorted as asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from frontdesk.common.clinics import get_clinic
from frontdesk.common.db import Connection

from .adapters import repository
from .adapters import worklists as worklist_store
from .domain.board import SERVICE_LEVEL_TARGET, Call, DayMetrics, day_metrics, local_day
from .domain.trends import service_level_by_local_hour

SortKey = Literal["clinic", "service_level", "abandonment", "overflow", "callbacks", "open_items"]
PRESENCE_ORDER = ("available", "busy", "wrap_up", "paused", "offline")


@dataclass(frozen=True)
class NowScreen:
    clinic_id: str
    clinic_name: str
    timezone: str
    today: date
    now: datetime
    budget_seconds: float
    metrics: DayMetrics
    waiting: list[Call]  # waiting or ringing someone at the clinic (or a sister clinic)
    talking: list[Call]
    handed_over: list[Call]  # today's calls given to a vendor, newest first
    agents: dict[str, list[repository.Agent]]
    callbacks_today: int
    version: int
    last_event_at: datetime | None
    target: float = SERVICE_LEVEL_TARGET


@dataclass(frozen=True)
class NetworkRow:
    clinic_id: str
    clinic_name: str
    timezone: str
    metrics: DayMetrics
    callbacks_today: int
    last_event_at: datetime | None
    open_items: int = 0  # open callbacks and recovery tasks (worklists.py)
    hourly_service_level: tuple[float | None, ...] = ()  # today, per local hour 0-23
    local_hour: int = 23  # the clinic's current hour: later ones have not happened yet


async def now_screen(conn: Connection, clinic_id: str, now: datetime) -> NowScreen | None:
    """None when the console has not seen this clinic's configuration."""
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        return None
    today, start, end = local_day(now, clinic.zone)
    calls = await repository.calls_between(conn, clinic_id, start, end)
    open_calls = await repository.open_calls(conn, clinic_id)
    agents: dict[str, list[repository.Agent]] = {status: [] for status in PRESENCE_ORDER}
    for agent in await repository.agents(conn, clinic_id):
        agents.setdefault(agent.status, []).append(agent)
    handed = [c for c in calls if c.overflowed_at is not None]
    handed.sort(key=lambda c: c.overflowed_at or now, reverse=True)
    activity = await repository.activity(conn, clinic_id)
    return NowScreen(
        clinic_id=clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        today=today,
        now=now,
        budget_seconds=clinic.phone.ring_budget_seconds,
        metrics=day_metrics(calls, clinic.phone.ring_budget_seconds),
        waiting=[c for c in open_calls if c.state in ("waiting", "ringing")],
        talking=[c for c in open_calls if c.state == "answered"],
        handed_over=handed[:50],
        agents=agents,
        callbacks_today=await repository.callbacks_since(conn, clinic_id, start),
        version=activity.version,
        last_event_at=activity.last_event_at,
    )


async def network_screen(
    conn: Connection, visible: list[str] | None, now: datetime, sort: SortKey, descending: bool
) -> list[NetworkRow]:
    rows: list[NetworkRow] = []
    open_items = await worklist_store.open_counts(conn, visible)
    for clinic_id in await repository.clinic_ids(conn, visible):
        clinic = await get_clinic(conn, clinic_id)
        if clinic is None:
            continue
        _, start, end = local_day(now, clinic.zone)
        calls = await repository.calls_between(conn, clinic_id, start, end)
        rows.append(
            NetworkRow(
                clinic_id=clinic_id,
                clinic_name=clinic.name,
                timezone=clinic.timezone,
                metrics=day_metrics(calls, clinic.phone.ring_budget_seconds),
                callbacks_today=await repository.callbacks_since(conn, clinic_id, start),
                last_event_at=(await repository.activity(conn, clinic_id)).last_event_at,
                open_items=open_items.get(clinic_id, 0),
                hourly_service_level=tuple(
                    service_level_by_local_hour(calls, clinic.zone, clinic.phone.ring_budget_seconds)
                ),
                local_hour=now.astimezone(clinic.zone).hour,
            )
        )
    return sort_rows(rows, sort, descending)


def sort_rows(rows: list[NetworkRow], sort: SortKey, descending: bool) -> list[NetworkRow]:
    """Sorted by `sort`; clinics without a value (no calls yet) always last, then by clinic id."""

    def value(row: NetworkRow) -> float | str | None:
        m = row.metrics
        return {
            "clinic": row.clinic_id,
            "service_level": m.service_level,
            "abandonment": m.abandonment_rate,
            "overflow": m.overflow_rate,
            "callbacks": float(row.callbacks_today),
            "open_items": float(row.open_items),
        }[sort]

    present = sorted((r for r in rows if value(r) is not None), key=lambda r: r.clinic_id)
    present.sort(key=lambda r: value(r), reverse=descending)  # type: ignore[arg-type, return-value]
    missing = sorted((r for r in rows if value(r) is None), key=lambda r: r.clinic_id)
    return present + missing
