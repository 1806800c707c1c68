"""Review requests: one per visit (a deterministic id), sent a fixed delay after the visit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from frontdesk.reviews.domain import DEFAULT_DELAY, review_request_id, send_time

COMPLETED = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_the_request_id_is_derived_from_the_visit() -> None:
    assert review_request_id("visit-1") == "rr-visit-1"
    assert review_request_id("visit-1") == review_request_id("visit-1")
    assert review_request_id("visit-1") != review_request_id("visit-2")


def test_the_default_delay_is_two_hours() -> None:
    assert timedelta(hours=2) == DEFAULT_DELAY
    assert send_time(COMPLETED) == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(minutes=30), timedelta(days=1)])
def test_a_clinic_can_choose_its_delay(delay: timedelta) -> None:
    assert send_time(COMPLETED, delay) == COMPLETED + delay


def test_the_offset_of_the_visit_time_does_not_change_the_instant() -> None:
    as_new_york = COMPLETED.astimezone(timezone(timedelta(hours=-5)))
    assert send_time(as_new_york) == send_time(COMPLETED)
    assert send_time(as_new_york).tzinfo is not None


@pytest.mark.parametrize(
    "completed_at",
    [
        datetime(2026, 11, 1, 0, 30, tzinfo=ZoneInfo("America/New_York")),  # EDT; 2 h later is after fall-back
        datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York")),  # EST; 2 h later is after spring-forward
        datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo("Europe/London")),
    ],
)
def test_the_delay_is_elapsed_time_across_a_dst_change(completed_at: datetime) -> None:
    sent = send_time(completed_at)
    assert sent.astimezone(UTC) - completed_at.astimezone(UTC) == timedelta(hours=2)
