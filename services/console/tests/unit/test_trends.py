"""Hours of the week and weeks in the clinic's own zone (DST included), against the forecast; the
server-drawn charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from frontdesk.console.domain.board import Call
from frontdesk.console.domain.schedule import Appointment, KeptZones
from frontdesk.console.domain.trends import (
    ForecastHour,
    by_hour_of_week,
    iso_week,
    no_show_by_week,
    service_level_by_local_hour,
)
from frontdesk.console.entrypoints.charts import Scale, Series, hours_of_week, weeks

CHICAGO = ZoneInfo("America/Chicago")


def answered(at: datetime, wait: float) -> Call:
    return Call(call_id=f"c-{at.isoformat()}-{wait}", received_at=at, answered_at=at + timedelta(seconds=wait))


def test_calls_fall_into_the_clinics_local_hour_of_the_week_across_dst() -> None:
    # Monday 9 March 2026 09:30 CDT (after the spring change) and Monday 2 March 09:30 CST: the same local hour
    after, before = datetime(2026, 3, 9, 14, 30, tzinfo=UTC), datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    cells = by_hour_of_week([answered(after, 10), answered(before, 40)], CHICAGO, 30, weeks=2)
    assert len(cells) == 168
    monday_9 = cells[9]
    assert (monday_9.weekday, monday_9.hour, monday_9.label) == (0, 9, "Mon 09:00")
    assert monday_9.calls_per_week == 1.0 and monday_9.service_level == 0.5
    assert sum(c.calls_per_week for c in cells) == 1.0
    assert cells[10].service_level is None  # no call: no level, not 0%


def test_the_forecast_meets_the_actuals_hour_by_hour() -> None:
    forecast = [ForecastHour(weekday=6, hour=23, arrivals_per_hour=4.5, agents=2, service_level=0.93)]
    cells = by_hour_of_week([], CHICAGO, 30, weeks=4, forecast=forecast)
    assert cells[-1].forecast_calls == 4.5 and cells[-1].forecast_agents == 2
    assert cells[0].forecast_calls is None


def test_weeks_are_local_iso_weeks() -> None:
    sunday_night_local = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)  # Sunday 15 March 22:00 CDT
    assert iso_week(sunday_night_local, CHICAGO) == "2026-W11"
    assert iso_week(sunday_night_local, ZoneInfo("UTC")) == "2026-W12"


def test_no_show_rate_per_week() -> None:
    def appt(day: int, **facts: object) -> Appointment:
        start = datetime(2026, 3, day, 15, 0, tzinfo=UTC)
        return Appointment(f"a-{day}-{len(facts)}", "dr-a", "checkup", start, start, **facts)  # type: ignore[arg-type]

    rates = no_show_by_week(
        [
            appt(2, no_show="no_show"),
            appt(3, completed_at=datetime.now(UTC)),
            appt(10, checked_in_at=datetime.now(UTC)),
        ],
        KeptZones("America/Chicago"),
    )
    assert [(r.week, r.missed, r.held, r.rate) for r in rates] == [("2026-W10", 1, 2, 0.5), ("2026-W11", 0, 1, 0.0)]


def test_an_appointment_counts_in_the_week_of_the_zone_it_is_kept_in() -> None:
    """Monday 02:00 in Kathmandu is Sunday 15:15 in Chicago: the Kathmandu provider's Monday week."""
    start = datetime(2026, 3, 15, 20, 15, tzinfo=UTC)
    missed = Appointment("a-1", "dr-k", "checkup", start, start, no_show="no_show")
    zones = KeptZones("America/Chicago", {"dr-k": "Asia/Kathmandu"})
    assert [r.week for r in no_show_by_week([missed], zones)] == ["2026-W12"]
    assert [r.week for r in no_show_by_week([missed], KeptZones("America/Chicago"))] == ["2026-W11"]


def test_charts_are_titled_images_with_gaps_for_missing_values() -> None:
    svg = hours_of_week("c", "Calls <by hour>", "desc", [Series("a", [1.0] * 167 + [None], "bars")])
    assert svg.startswith("<svg") and 'role="img"' in svg and "Calls &lt;by hour&gt;" in svg
    assert svg.count("<rect") == 167 and "nan" not in svg.lower()
    line = weeks("w", "NPS", "d", ["W1", "W2", "W3"], [Series("nps", [10.0, None, -40.0], "line")], Scale(-100, 100))
    assert line.count("<polyline") == 2 and line.count("<circle") == 2  # the missing week breaks the line
    assert ">-100<" in line and ">100<" in line


def test_the_heat_map_day_is_the_clinics_wall_clock_hours() -> None:
    # 1 November 2026, Chicago falls back: 01:00-02:00 CDT and CST are both local hour 1
    first, second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    hours = service_level_by_local_hour([answered(first, 5), answered(second, 50)], CHICAGO, 30)
    assert len(hours) == 24 and hours[1] == 0.5
    assert hours[0] is None and hours[2] is None
