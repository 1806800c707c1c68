"""Frequency caps: treatment at most 1 a day and 3 a week, rolling, and deferral to when they clear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.followup.domain.caps import DEFAULT_CAPS, Cap, clear_of_caps, within_caps

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
TREATMENT = DEFAULT_CAPS["treatment"]
H = timedelta(hours=1)
D = timedelta(days=1)


def test_one_a_day() -> None:
    assert within_caps([], T0, TREATMENT)
    assert not within_caps([T0 - 23 * H], T0, TREATMENT)
    assert within_caps([T0 - 24 * H], T0, TREATMENT)  # the window is (t - 1 day, t]
    assert clear_of_caps([T0 - 2 * H], T0, TREATMENT) == T0 + 22 * H


def test_three_a_week() -> None:
    sent = [T0 - 6 * D, T0 - 4 * D, T0 - 2 * D]
    assert not within_caps(sent, T0, TREATMENT)
    assert clear_of_caps(sent, T0, TREATMENT) == T0 + D  # the oldest leaves the week
    assert within_caps(sent, T0 + D, TREATMENT)


def test_other_purposes_are_not_capped_by_default() -> None:
    assert "feedback" not in DEFAULT_CAPS


sent_lists = st.lists(st.integers(min_value=0, max_value=14 * 24 * 60), max_size=8).map(
    lambda minutes: [T0 - timedelta(minutes=m) for m in minutes]
)
cap_sets = st.lists(
    st.builds(Cap, st.integers(1, 10 * 24 * 60).map(lambda m: timedelta(minutes=m)), st.integers(1, 4)),
    min_size=1,
    max_size=3,
)


@given(sent=sent_lists, caps=cap_sets)
def test_cleared_instant_is_within_caps_and_minimal(sent: list[datetime], caps: list[Cap]) -> None:
    cleared = clear_of_caps(sent, T0, caps)
    assert cleared >= T0
    assert within_caps(sent, cleared, caps)
    if cleared > T0:
        assert not within_caps(sent, cleared - timedelta(microseconds=1), caps)
