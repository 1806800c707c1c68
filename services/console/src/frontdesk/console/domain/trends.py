"""What the Trends screen shows, from the read model's rows (no I/O).

- Hour of the week: the clinic's own local weekday and hour (0 = Monday, as call-router's Erlang C
  forecast counts them). Calls per hour = calls that arrived in that local hour / weeks looked at;
  the service level of an hour is domain/board.py's, over that hour's calls of all those weeks.
- A week is the clinic's local ISO week ("2026-W10"), as reviews' reputation summaries name it.
- No-show rate per week: domain/schedule.py's, over the appointments that started in the week.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .board import NO_CALLS, Call, CallCounts, metrics_of, service_level_of
from .schedule import Appointment, KeptZones, no_show_rate
from .summary import HourCounts, hour_counts

HOURS_OF_WEEK = [(weekday, hour) for weekday in range(7) for hour in range(24)]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class HourOfWeek:
    weekday: int  # 0 = Monday, clinic time
    hour: int
    calls_per_week: float
    service_level: float | None
    forecast_calls: float | None = None  # Erlang C forecast's arrivals per hour
    forecast_service_level: float | None = None
    forecast_agents: int | None = None

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00"


@dataclass(frozen=True)
class ForecastHour:
    weekday: int
    hour: int
    arrivals_per_hour: float
    agents: int
    service_level: float


def hour_of_week(at: datetime, zone: ZoneInfo) -> tuple[int, int]:
    local = at.astimezone(zone)
    return local.weekday(), local.hour


def iso_week(at: datetime, zone: ZoneInfo) -> str:
    year, week, _ = at.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def by_hour_of_week(
    calls: Iterable[Call], zone: ZoneInfo, budget_seconds: float, weeks: int, forecast: Iterable[ForecastHour] = ()
) -> list[HourOfWeek]:
    return week_of_hours(hour_counts(calls, zone, budget_seconds), weeks, forecast)


def week_of_hours(hours: Iterable[HourCounts], weeks: int, forecast: Iterable[ForecastHour] = ()) -> list[HourOfWeek]:
    """All 168 hours of the week, Monday 00:00 first: actual calls per week and service level, and
    the forecast's figures where the forecast has the hour."""
    grouped: dict[tuple[int, int], CallCounts] = defaultdict(CallCounts)
    for h in hours:
        grouped[(h.local_date.weekday(), h.local_hour)] += h.counts
    planned = {(f.weekday, f.hour): f for f in forecast}
    cells = []
    for key in HOURS_OF_WEEK:
        metrics = metrics_of(grouped.get(key, NO_CALLS))
        f = planned.get(key)
        cells.append(
            HourOfWeek(
                weekday=key[0],
                hour=key[1],
                calls_per_week=metrics.offered / max(1, weeks),
                service_level=metrics.service_level,
                forecast_calls=f.arrivals_per_hour if f else None,
                forecast_service_level=f.service_level if f else None,
                forecast_agents=f.agents if f else None,
            )
        )
    return cells


def service_level_by_local_hour(calls: Iterable[Call], zone: ZoneInfo, budget_seconds: float) -> list[float | None]:
    return levels_by_local_hour(hour_counts(calls, zone, budget_seconds))


def levels_by_local_hour(hours: Iterable[HourCounts]) -> list[float | None]:
    """24 service levels, one per local wall-clock hour of a day (the network's heat map): None for
    an hour without calls. On a DST day a repeated hour holds both of its instants, a skipped one
    stays empty."""
    grouped: dict[int, CallCounts] = defaultdict(CallCounts)
    for h in hours:
        grouped[h.local_hour] += h.counts
    return [service_level_of(grouped[hour]) if hour in grouped else None for hour in range(24)]


@dataclass(frozen=True)
class WeekRate:
    week: str
    missed: int
    held: int
    rate: float | None


def no_show_by_week(appointments: Iterable[Appointment], zones: KeptZones) -> list[WeekRate]:
    """Per local ISO week (oldest first): no-shows / appointments with a known outcome. An appointment
    counts in the week of the zone it is kept in (its provider's): Monday 02:00 in Kathmandu is that
    Monday's week, though it is still Sunday at a New York clinic."""
    grouped: dict[str, list[Appointment]] = defaultdict(list)
    for appointment in appointments:
        if appointment.starts_at is not None:
            zone = ZoneInfo(zones.of(appointment.provider_id))
            grouped[iso_week(appointment.starts_at, zone)].append(appointment)
    return [WeekRate(week, *no_show_rate(grouped[week])) for week in sorted(grouped)]
