"""A call's row in the read model, and how each of its events changes it (no I/O).

A call's events travel on different topics and arrive in any order, so each writes only its own
columns: most keep the first value they saw (a redelivery or a late event moves nothing); the offer
is the newest offer (what rings now); the hand-over is the newest hand-over (a failover to the next
vendor), keeping when the call was first handed over. The projector applies a batch's events to the
rows it read and writes the rows that changed in one statement (projection.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.contracts import CallAbandoned, CallAnswered, CallEnded, CallOffered, CallOverflowed, CallReceived

from .board import Call

CallFact = CallReceived | CallOffered | CallOverflowed | CallAnswered | CallAbandoned | CallEnded
CALL_FACTS = (CallReceived, CallOffered, CallOverflowed, CallAnswered, CallAbandoned, CallEnded)


@dataclass(frozen=True)
class CallRow:
    """A console_calls row: the clinic is the one the call's first event named."""

    call_id: str
    clinic_id: str
    received_at: datetime | None = None
    intent: str | None = None
    offered_at: datetime | None = None
    offered_kind: str | None = None
    offered_to: str | None = None
    vendor_id: str | None = None
    overflowed_at: datetime | None = None
    vendor_answer_by: datetime | None = None
    answered_at: datetime | None = None
    answered_by_kind: str | None = None
    answered_by_id: str | None = None
    abandoned_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def call(self) -> Call:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(Call)}
        return Call(**fields)


ROW_COLUMNS = tuple(f.name for f in dataclasses.fields(CallRow))


def _keep_first(row: CallRow, **facts: datetime | str | None) -> CallRow:
    changes = {name: value for name, value in facts.items() if getattr(row, name) is None}
    return dataclasses.replace(row, **changes) if changes else row  # type: ignore[arg-type]


def apply(row: CallRow | None, event: CallFact) -> CallRow:
    """The row after `event` (None: the call is not known yet)."""
    row = row or CallRow(event.call_id, event.clinic_id)
    if isinstance(event, CallReceived):
        return _keep_first(row, received_at=event.received_at, intent=event.intent)
    if isinstance(event, CallOffered):
        if row.offered_at is not None and row.offered_at > event.offered_at:
            return row  # an older offer arriving late
        return dataclasses.replace(
            row, offered_at=event.offered_at, offered_kind=event.target_kind, offered_to=event.target_id
        )
    if isinstance(event, CallOverflowed):
        first = min(event.overflowed_at, row.overflowed_at or event.overflowed_at)  # in any order
        if row.vendor_answer_by is not None and row.vendor_answer_by > event.answer_by:
            return dataclasses.replace(row, overflowed_at=first)  # an older hand-over arriving late
        return dataclasses.replace(
            row, vendor_id=event.vendor_id, overflowed_at=first, vendor_answer_by=event.answer_by
        )
    if isinstance(event, CallAnswered):
        return _keep_first(
            row,
            answered_at=event.answered_at,
            answered_by_kind=event.answered_by_kind,
            answered_by_id=event.answered_by_id,
        )
    if isinstance(event, CallAbandoned):
        return _keep_first(row, abandoned_at=event.abandoned_at)
    return _keep_first(row, ended_at=event.ended_at)
