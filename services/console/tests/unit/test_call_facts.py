"""A call's row from its events: the same row whatever order they arrive in, and however often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.common.contracts import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
)
from frontdesk.console.domain.call_facts import CallFact, CallRow, apply

T0 = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
IDS = {"call_id": "call-1", "clinic_id": "c-1"}


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def a_call(offers: list[int], handovers: list[int], answered: bool) -> list[CallFact]:
    offer = {**IDS, "target_kind": "pool", "ring_timeout_seconds": 20}
    events: list[CallFact] = [CallReceived(**IDS, received_at=at(0), caller_token="tok-1")]
    events += [
        CallOffered(**offer, target_id=f"desk-{s}", offered_at=at(s), attempt=n + 1) for n, s in enumerate(offers)
    ]
    events += [
        CallOverflowed(
            **IDS, vendor_id=f"v-{s}", reason="no_answer", overflowed_at=at(s), answer_by=at(s + 45), caller_token="t"
        )
        for s in handovers
    ]
    if answered:
        events.append(CallAnswered(**IDS, answered_at=at(90), answered_by_kind="receptionist", answered_by_id="r-1"))
    else:
        events.append(CallAbandoned(**IDS, abandoned_at=at(70)))
    events.append(CallEnded(**IDS, ended_at=at(200)))
    return events


def replay(events: list[CallFact]) -> CallRow:
    row: CallRow | None = None
    for event in events:
        row = apply(row, event)
    assert row is not None
    return row


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=3, unique=True),
    st.lists(st.integers(20, 80), max_size=3, unique=True),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_the_row_is_the_same_in_any_order_and_with_repeats(
    offers: list[int], handovers: list[int], answered: bool, rng: object
) -> None:
    events = a_call(offers, handovers, answered)
    shuffled = events + events[::2]
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    row = replay(shuffled)
    assert row == replay(events)
    assert row.offered_at == at(max(offers)) and row.offered_to == f"desk-{max(offers)}"  # what rings now
    if handovers:  # the newest hand-over's vendor, since the first hand-over
        assert row.vendor_id == f"v-{max(handovers)}" and row.overflowed_at == at(min(handovers))
    assert (row.answered_at is not None) == answered and row.ended_at == at(200)


def test_a_late_fact_moves_nothing_already_known() -> None:
    row = replay(a_call([5], [], True))
    again = apply(
        row, CallAnswered(**IDS, answered_at=at(99), answered_by_kind="answering_service", answered_by_id="v")
    )
    assert again is row
