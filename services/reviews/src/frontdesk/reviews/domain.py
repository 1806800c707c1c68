"""Review-request rules that need no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_DELAY = timedelta(hours=2)


def send_time(completed_at: datetime, delay: timedelta = DEFAULT_DELAY) -> datetime:
    """When to ask for feedback: the clinic's delay after the visit (quiet hours: reviews issue)."""
    # Elapsed time, so add in UTC (wall-clock arithmetic in a ZoneInfo zone is off across DST changes).
    return completed_at.astimezone(UTC) + delay


def review_request_id(visit_id: str) -> str:
    """One request per visit: the id is derived from the visit, so a repeat cannot make a second."""
    return f"rr-{visit_id}"
