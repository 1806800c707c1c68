"""Worklist deadlines and the staff token's seal, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.console.domain import staff_token
from frontdesk.console.domain.worklists import Callback, RecoveryTask, WaitlistOffer, deadline_state

T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def callback(**kw: object) -> Callback:
    base: dict[str, object] = {
        "callback_id": "cb-1",
        "reason": "abandoned_call",
        "urgency": "routine",
        "requested_at": T0,
        "due_at": None,
        "escalated_at": None,
    }
    return Callback(**{**base, **kw})  # type: ignore[arg-type]


def test_callback_deadline_is_followups_escalation_time() -> None:
    # due at the next opening (followup's plan), escalated target minutes later
    planned = callback(due_at=T0 + timedelta(hours=2))
    assert planned.deadline(60, 15) == T0 + timedelta(hours=3)
    assert callback(urgency="urgent", due_at=T0).deadline(60, 15) == T0 + timedelta(minutes=15)
    # before followup's plan arrives, the request's time stands in for "due"
    assert callback().deadline(60, 15) == T0 + timedelta(minutes=60)
    assert callback(requested_at=None).deadline(60, 15) is None


@pytest.mark.parametrize(
    ("minutes_later", "state"),
    [(0, "on_time"), (44, "on_time"), (45, "due_soon"), (59, "due_soon"), (60, "overdue"), (600, "overdue")],
)
def test_callback_state_as_time_passes(minutes_later: int, state: str) -> None:
    assert callback().state(T0 + timedelta(minutes=minutes_later), 60, 15) == state


def test_an_escalated_callback_is_overdue_whatever_the_clock() -> None:
    assert callback(escalated_at=T0).state(T0, 60, 15) == "overdue"


def test_recovery_task_and_offer_deadlines() -> None:
    task = RecoveryTask("rt-1", "dr-a", 1, "stars", 2, T0 + timedelta(hours=24), T0)
    assert task.state(T0) == "on_time"
    assert task.state(T0 + timedelta(hours=21)) == "due_soon"
    assert task.state(T0 + timedelta(hours=24)) == "overdue"
    offer = WaitlistOffer("o-1", "dr-a", "checkup", T0, T0, T0 + timedelta(minutes=15))
    assert offer.state(T0) == "on_time" and offer.state(T0 + timedelta(minutes=11)) == "due_soon"
    assert deadline_state(None, T0, timedelta(hours=1)) == "on_time"


def test_the_staff_token_opens_only_beside_its_session() -> None:
    key, other = b"k" * 32, b"o" * 32
    sealed = staff_token.seal("eyJ.token.sig", key, "csrf-1")
    assert "token" not in sealed
    assert staff_token.open_sealed(sealed, [other, key], "csrf-1") == "eyJ.token.sig"  # rotation: any key opens
    assert staff_token.open_sealed(sealed, [key], "csrf-2") is None  # another session's cookie
    assert staff_token.open_sealed(sealed, [other], "csrf-1") is None
    assert staff_token.open_sealed(sealed[:-2] + "AA", [key], "csrf-1") is None
    assert staff_token.open_sealed("!!!", [key], "csrf-1") is None
    assert staff_token.open_sealed(None, [key], "csrf-1") is None
