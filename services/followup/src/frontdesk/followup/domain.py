"""Follow-up planning rules that need no I/O."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

CHECK_IN_LOCAL_TIME = time(10, 0)


def next_day_check_in(completed_at: datetime, zone: ZoneInfo, at: time = CHECK_IN_LOCAL_TIME) -> datetime:
    """The check-in goes out the day after the visit at `at`, in the clinic's local time.

    Built from the local calendar date, so a DST change overnight still lands on 10:00 local.
    """
    next_day = completed_at.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(next_day, at, tzinfo=zone)
