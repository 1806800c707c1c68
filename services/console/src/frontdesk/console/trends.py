"""Trends: call-router's Erlang C forecast and reviews' weekly reputation into the read model
(handlers), and the screen: calls and service level by hour of the week against the forecast (the
last 4 weeks), NPS / star rating / response rate by week per clinic and provider, no-show rate.

staffing.forecast -> console_forecasts (the newest per clinic); reputation.summary ->
console_reputation (per week, clinic and providers). Calls and appointments come from the tables
Now and Today's schedule already keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import Event, ReputationSummary, StaffingForecast
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from .adapters import repository, summaries
from .adapters import schedule as appointments
from .adapters import trends as store
from .adapters.trends import CLINIC, Forecast, Reputation
from .domain.schedule import KeptZones
from .domain.trends import ForecastHour, HourOfWeek, WeekRate, iso_week, no_show_by_week, week_of_hours

HISTORY_WEEKS = 4  # calls by hour of the week: the last four weeks, as the forecast's default history
TREND_WEEKS = 8  # reputation and no-shows


async def handle_staffing_forecast(event: StaffingForecast, uow: UnitOfWork) -> None:
    hours = [ForecastHour(h.weekday, h.hour, h.arrivals_per_hour, h.agents, h.service_level) for h in event.hours]
    forecast = Forecast(
        event.forecast_id, event.generated_at, event.weeks, event.target_service_level, event.target_seconds, hours
    )
    await store.save_forecast(uow.conn, event.clinic_id, forecast)


async def handle_reputation_summary(event: ReputationSummary, uow: UnitOfWork) -> None:
    rows = [(CLINIC, event.clinic)] + [(p.provider_id, p) for p in event.providers]
    for provider_id, f in rows:
        figures = Reputation(
            event.week, provider_id, f.requests_sent, f.responses, f.response_rate, f.average_rating, f.nps
        )
        await store.save_reputation(uow.conn, event.clinic_id, figures, event.computed_at)


HANDLERS: dict[type[Event], Handler] = {
    StaffingForecast: handle_staffing_forecast,
    ReputationSummary: handle_reputation_summary,
}


@dataclass(frozen=True)
class TrendsScreen:
    clinic_id: str
    clinic_name: str
    timezone: str
    now: datetime
    budget_seconds: float
    history_weeks: int
    hours: list[HourOfWeek]
    forecast: Forecast | None
    weeks: list[str]  # the reputation and no-show weeks shown, oldest first
    clinic_reputation: dict[str, Reputation]  # by week
    provider_reputation: dict[str, dict[str, Reputation]]  # provider -> week -> figures
    no_shows: dict[str, WeekRate]  # by week
    version: int
    last_event_at: datetime | None


async def trends_screen(conn: Connection, clinic_id: str, now: datetime) -> TrendsScreen | None:
    """None when the console has not seen this clinic's configuration."""
    clinic = (await summaries.clinic_configs(conn, [clinic_id])).get(clinic_id)
    if clinic is None:
        return None
    zone, budget = clinic.zone, clinic.phone.ring_budget_seconds
    # the hours that began after the local hour four weeks ago (the hour summaries, not the calls)
    began = (now - timedelta(weeks=HISTORY_WEEKS)).astimezone(zone)
    history = await summaries.hours_after(conn, clinic_id, (began.date(), began.hour))
    forecast = await store.forecast(conn, clinic_id)
    weeks = [iso_week(now - timedelta(weeks=n), zone) for n in reversed(range(TREND_WEEKS))]
    clinic_reputation: dict[str, Reputation] = {}
    providers: dict[str, dict[str, Reputation]] = {}
    for figures in await store.reputation_since(conn, clinic_id, weeks[0]):
        if figures.provider_id == CLINIC:
            clinic_reputation[figures.week] = figures
        else:
            providers.setdefault(figures.provider_id, {})[figures.week] = figures
    since = now - timedelta(weeks=TREND_WEEKS)
    booked = await appointments.starting_between(conn, clinic_id, since, now)
    activity = await repository.activity(conn, clinic_id)
    return TrendsScreen(
        clinic_id=clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        now=now,
        budget_seconds=budget,
        history_weeks=HISTORY_WEEKS,
        hours=week_of_hours(history, HISTORY_WEEKS, forecast.hours if forecast else ()),
        forecast=forecast,
        weeks=weeks,
        clinic_reputation=clinic_reputation,
        provider_reputation=dict(sorted(providers.items())),
        no_shows={w.week: w for w in no_show_by_week(booked, KeptZones.of_clinic(clinic))},
        version=activity.version,
        last_event_at=activity.last_event_at,
    )
