"""The Trends screen's charts (entrypoints/charts.py) from its figures: what each chart plots."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from ..domain.board import SERVICE_LEVEL_TARGET
from ..trends import TrendsScreen
from .charts import Scale, Series, hours_of_week, weeks


@dataclass(frozen=True)
class TrendCharts:
    calls: Markup
    service_level: Markup
    nps: Markup
    rating: Markup
    response_rate: Markup
    no_show: Markup


def trend_charts(screen: TrendsScreen) -> TrendCharts:
    calls, service_level = _hour_charts(screen)
    labels = [w.split("-")[1] for w in screen.weeks]
    clinic = [screen.clinic_reputation.get(w) for w in screen.weeks]
    no_shows = [w.rate if (w := screen.no_shows.get(k)) else None for k in screen.weeks]
    return TrendCharts(
        calls=calls,
        service_level=service_level,
        nps=weeks(
            "nps",
            "Net Promoter Score by week",
            "Clinic NPS per week, from -100 to 100.",
            labels,
            [Series("NPS", [r.nps if r else None for r in clinic], "line")],
            Scale(-100, 100),
        ),
        rating=weeks(
            "rating",
            "Average star rating by week",
            "Clinic average star rating per week, 1 to 5.",
            labels,
            [Series("stars", [r.average_rating if r else None for r in clinic], "line")],
            Scale(1, 5),
        ),
        response_rate=weeks(
            "response-rate",
            "Response rate by week",
            "Share of feedback requests answered per week.",
            labels,
            [Series("response rate", [r.response_rate if r else None for r in clinic], "line")],
            Scale(0, 1, percent=True),
        ),
        no_show=weeks(
            "no-show",
            "No-show rate by week",
            "Share of appointments with a known outcome that were no-shows, per week.",
            labels,
            [Series("no-show rate", no_shows, "line")],
            Scale(0, 1, percent=True),
        ),
    )


def _hour_charts(screen: TrendsScreen) -> tuple[Markup, Markup]:
    """Calls and service level over the 168 hours of the week, against the forecast."""
    hours, n = screen.hours, screen.history_weeks
    target = screen.forecast.target_service_level if screen.forecast else SERVICE_LEVEL_TARGET
    calls = hours_of_week(
        "calls",
        "Calls by hour of the week",
        f"Bars: calls that arrived per hour, averaged over the last {n} weeks. Dashed line: the Erlang C"
        " forecast's arrivals per hour.",
        [
            Series("calls per hour", [h.calls_per_week for h in hours], "bars"),
            Series("forecast", [h.forecast_calls for h in hours], "dashed"),
        ],
    )
    service_level = hours_of_week(
        "service-level",
        "Service level by hour of the week",
        f"Bars: share of calls answered within the ring budget, last {n} weeks. Dashed line: the level the"
        f" forecast's staffing reaches. Dotted grey line: the {target * 100:.0f}% target.",
        [
            Series("service level", [h.service_level for h in hours], "bars"),
            Series("forecast", [h.forecast_service_level for h in hours], "dashed"),
            Series("target", [target] * len(hours), "target"),
        ],
        percent=True,
    )
    return calls, service_level
