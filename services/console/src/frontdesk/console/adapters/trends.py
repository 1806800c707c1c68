"""SQL of the trends: the newest staffing forecast per clinic, the weekly reputation figures.

A forecast or a week's figures computed later replace earlier ones; an older one arriving late
changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from frontdesk.common.db import Connection

from ..domain.trends import ForecastHour

CLINIC = ""  # provider_id of a clinic's own figures


@dataclass(frozen=True)
class Forecast:
    forecast_id: str
    generated_at: datetime
    weeks: int
    target_service_level: float
    target_seconds: float
    hours: list[ForecastHour]


@dataclass(frozen=True)
class Reputation:
    week: str
    provider_id: str
    requests_sent: int
    responses: int
    response_rate: float | None
    average_rating: float | None
    nps: float | None


async def save_forecast(conn: Connection, clinic_id: str, forecast: Forecast) -> None:
    await conn.execute(
        "INSERT INTO console_forecasts (clinic_id, forecast_id, generated_at, weeks, target_service_level,"
        " target_seconds, hours) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (clinic_id) DO UPDATE SET"
        " forecast_id = EXCLUDED.forecast_id, generated_at = EXCLUDED.generated_at, weeks = EXCLUDED.weeks,"
        " target_service_level = EXCLUDED.target_service_level, target_seconds = EXCLUDED.target_seconds,"
        " hours = EXCLUDED.hours WHERE console_forecasts.generated_at <= EXCLUDED.generated_at",
        clinic_id,
        forecast.forecast_id,
        forecast.generated_at,
        forecast.weeks,
        forecast.target_service_level,
        forecast.target_seconds,
        [asdict(h) for h in forecast.hours],
    )


async def forecast(conn: Connection, clinic_id: str) -> Forecast | None:
    row = await conn.fetchrow(
        "SELECT forecast_id, generated_at, weeks, target_service_level, target_seconds, hours"
        " FROM console_forecasts WHERE clinic_id = $1",
        clinic_id,
    )
    if row is None:
        return None
    fields = dict(row)
    fields["hours"] = [ForecastHour(**h) for h in fields["hours"]]
    return Forecast(**fields)


async def save_reputation(conn: Connection, clinic_id: str, figures: Reputation, computed_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO console_reputation (clinic_id, week, provider_id, requests_sent, responses, response_rate,"
        " average_rating, nps, computed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (clinic_id, week, provider_id) DO UPDATE SET requests_sent = EXCLUDED.requests_sent,"
        " responses = EXCLUDED.responses, response_rate = EXCLUDED.response_rate,"
        " average_rating = EXCLUDED.average_rating, nps = EXCLUDED.nps, computed_at = EXCLUDED.computed_at"
        " WHERE console_reputation.computed_at <= EXCLUDED.computed_at",
        clinic_id,
        figures.week,
        figures.provider_id,
        figures.requests_sent,
        figures.responses,
        figures.response_rate,
        figures.average_rating,
        figures.nps,
        computed_at,
    )


async def reputation_since(conn: Connection, clinic_id: str, first_week: str) -> list[Reputation]:
    """Figures of the weeks from `first_week` on, oldest first, the clinic's before its providers'."""
    rows = await conn.fetch(
        "SELECT week, provider_id, requests_sent, responses, response_rate, average_rating, nps"
        " FROM console_reputation WHERE clinic_id = $1 AND week >= $2 ORDER BY week, provider_id",
        clinic_id,
        first_week,
    )
    return [Reputation(**dict(r)) for r in rows]
