"""The clinic's daily message limit: at most `limit` messages to a clinic's patients per local day.

A spend and blast-radius guard (a runaway producer of message.requested, a misconfigured plan): once
a clinic has sent its day's messages, the rest wait for its next local day (and then for quiet hours
and caps as usual), or are skipped if they would expire first. Days are the clinic's calendar days,
so the budget renews at local midnight whatever the DST offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which the clinic's local day containing `at` began."""
    local = at.astimezone(zone)
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)


def next_day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which the clinic's next local day begins (strictly after `at`)."""
    local = at.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class DailyLimit:
    limit: int
    sent_today: int  # messages sent in the clinic's local day containing `now`
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.limit < 1 or self.sent_today < 0:
            raise ValueError("a daily limit needs a positive limit and a count >= 0")

    def earliest(self, now: datetime, at: datetime) -> datetime:
        """The first instant >= `at` at which one more message stays within today's budget: `at` itself
        if today's budget is not spent or `at` is already on a later day, else the next day's start."""
        if self.sent_today < self.limit:
            return at
        return max(at, next_day_start(now, self.zone))
