"""The screens' use cases: read the model, compute what the page shows (domain/board.py), no HTML.

now_screen(clinic)  -> open calls (waiting, ringing, with a vendor), today's hand-overs, presence,
                       today's metrics in the clinic's own zone, when its last event arrived.
network_screen(ids) -> one row per clinic with today's metrics, callbacks, open worklist items and
                       service level per local hour (the heat map), sorted as asked.
Today's metrics are summed from the day's hour summaries (console_call_hours, kept by the
projector), not from the calls: a page reads at most 25 rows per clinic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from frontdesk.common.db import Connection

from .adapters import repository, summaries
from .domain.board import NO_CALLS, SERVICE_LEVEL_TARGET, Call, DayMetrics, local_day, metrics_of
from .domain.trends import levels_by_local_hour
from .worklists import open_reschedule_tasks_per_clinic

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
    open_items: int = 0  # open callbacks, recovery tasks and reschedule tasks (worklists.py)
    hourly_service_level: tuple[float | None, ...] = ()  # today, per local hour 0-23
    local_hour: int = 23  # the clinic's current hour: later ones have not happened yet


async def now_screen(conn: Connection, clinic_id: str, now: datetime) -> NowScreen | None:
    """None when the console has not seen this clinic's configuration."""
    clinic = (await summaries.clinic_configs(conn, [clinic_id])).get(clinic_id)
    if clinic is None:
        return None
    today, start, end = local_day(now, clinic.zone)
    hours = (await summaries.days(conn, {clinic_id: today}))[clinic_id]
    open_calls = await repository.open_calls(conn, clinic_id)
    agents: dict[str, list[repository.Agent]] = {status: [] for status in PRESENCE_ORDER}
    for agent in await repository.agents(conn, clinic_id):
        agents.setdefault(agent.status, []).append(agent)
    activity = await repository.activity(conn, clinic_id)
    return NowScreen(
        clinic_id=clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        today=today,
        now=now,
        budget_seconds=clinic.phone.ring_budget_seconds,
        metrics=metrics_of(sum((h.counts for h in hours), NO_CALLS)),
        waiting=[c for c in open_calls if c.state in ("waiting", "ringing")],
        talking=[c for c in open_calls if c.state == "answered"],
        handed_over=await repository.handed_over(conn, clinic_id, start, end),
        agents=agents,
        callbacks_today=await repository.callbacks_since(conn, clinic_id, start),
        version=activity.version,
        last_event_at=activity.last_event_at,
    )


async def network_screen(
    conn: Connection, visible: list[str] | None, now: datetime, sort: SortKey, descending: bool
) -> list[NetworkRow]:
    """One row per clinic from a few statements for all of them: the day's hours from the summaries."""
    clinics = await summaries.clinic_configs(conn, visible)
    days = {clinic_id: local_day(now, clinic.zone) for clinic_id, clinic in clinics.items()}
    hours = await summaries.days(conn, {clinic_id: day[0] for clinic_id, day in days.items()})
    callbacks = await repository.callbacks_since_each(conn, {clinic_id: day[1] for clinic_id, day in days.items()})
    activities = await repository.activities(conn, visible)
    open_items = Counter(await summaries.open_items(conn, visible))
    open_items.update(await open_reschedule_tasks_per_clinic(conn, visible, now))  # adds the counts
    rows = []
    for clinic_id, clinic in clinics.items():
        activity = activities.get(clinic_id)
        rows.append(
            NetworkRow(
                clinic_id=clinic_id,
                clinic_name=clinic.name,
                timezone=clinic.timezone,
                metrics=metrics_of(sum((h.counts for h in hours[clinic_id]), NO_CALLS)),
                callbacks_today=callbacks.get(clinic_id, 0),
                last_event_at=activity.last_event_at if activity else None,
                open_items=open_items.get(clinic_id, 0),
                hourly_service_level=tuple(levels_by_local_hour(hours[clinic_id])),
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
