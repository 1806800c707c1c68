"""How numbers and instants read on the pages (Jinja filters)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..domain.patient_loops import span


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    whole = round(value)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def local_time(value: datetime | None, zone: str = "UTC") -> str:
    return "never" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")


def local_hm(value: datetime | None, zone: str = "UTC") -> str:
    return "?" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def local_day_hm(value: datetime | None, zone: str = "UTC") -> str:
    return "?" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def local_stamp(value: datetime | None, zone: str = "UTC") -> str:
    return "never" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def local_clock(value: datetime | None, zone: str = "UTC") -> str:
    return "never" if value is None else value.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S %Z")


def zone_name(value: datetime | None, zone: str) -> str:
    """The zone a time is told in, with its abbreviation or offset at that instant: "Asia/Kathmandu +0545"."""
    return zone if value is None else f"{zone} {value.astimezone(ZoneInfo(zone)):%Z}"


def iso_local(value: str | None, zone: str = "UTC") -> str:
    """An instant as another service's API sends it (ISO 8601), in the clinic's time."""
    if not value:
        return "never"
    try:
        return local_stamp(datetime.fromisoformat(str(value)), zone)
    except ValueError:
        return str(value)


def label(value: str) -> str:
    return value.replace("_", " ")


FILTERS = {
    "percent": percent,
    "seconds": seconds,
    "local_time": local_time,
    "local_stamp": local_stamp,
    "local_day_hm": local_day_hm,
    "label": label,
    "local_clock": local_clock,
    "iso_local": iso_local,
    "local_hm": local_hm,
    "zone_name": zone_name,
    "span": span,
}
