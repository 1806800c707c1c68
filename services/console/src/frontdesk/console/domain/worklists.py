"""What the worklists show, from the read model's rows (no I/O).

- A callback is due when followup plans it (the clinic's next opening after the request) and its
  deadline is when followup escalates it: due + the clinic's callback target (the urgent target for
  an urgent callback). Before followup's plan arrives, the request's time stands in for "due".
- A recovery task's deadline is the one of its newest escalation (reviews: 24 h by default).
- A reschedule task (the patient replied "3" and picked no time on their page) is due when the
  scheduler says (its staff hours, never past the appointment). It is open while its appointment still
  starts when the task was opened and nothing else happened to it (`reschedule_task_open`).
- Every deadline reads as overdue, due soon or on time; "soon" depends on the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

DeadlineState = Literal["overdue", "due_soon", "on_time"]
CALLBACK_SOON = timedelta(minutes=15)
RECOVERY_SOON = timedelta(hours=4)
WAITLIST_SOON = timedelta(minutes=5)
RESCHEDULE_SOON = timedelta(hours=1)


def deadline_state(deadline: datetime | None, now: datetime, soon: timedelta) -> DeadlineState:
    if deadline is None:
        return "on_time"
    if now >= deadline:
        return "overdue"
    return "due_soon" if deadline - now <= soon else "on_time"


@dataclass(frozen=True)
class Callback:
    callback_id: str
    reason: str | None
    urgency: str | None
    requested_at: datetime | None
    due_at: datetime | None
    escalated_at: datetime | None

    def deadline(self, routine_minutes: int, urgent_minutes: int) -> datetime | None:
        """When followup escalates it: its due time plus the clinic's target for its urgency."""
        start = self.due_at or self.requested_at
        if start is None:
            return None
        return start + timedelta(minutes=urgent_minutes if self.urgency == "urgent" else routine_minutes)

    def state(self, now: datetime, routine_minutes: int, urgent_minutes: int) -> DeadlineState:
        if self.escalated_at is not None:
            return "overdue"
        return deadline_state(self.deadline(routine_minutes, urgent_minutes), now, CALLBACK_SOON)


@dataclass(frozen=True)
class RecoveryTask:
    recovery_task_id: str
    provider_id: str | None
    level: int | None
    scale: str | None
    score: int | None
    due_at: datetime | None
    escalated_at: datetime | None

    def state(self, now: datetime) -> DeadlineState:
        return deadline_state(self.due_at, now, RECOVERY_SOON)


@dataclass(frozen=True)
class FollowupTask:
    task_id: str
    reason: str
    urgency: str
    escalated_at: datetime


@dataclass(frozen=True)
class WaitlistOffer:
    offer_id: str
    provider_id: str | None
    appointment_type: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    expires_at: datetime | None

    def state(self, now: datetime) -> DeadlineState:
        return deadline_state(self.expires_at, now, WAITLIST_SOON)


@dataclass(frozen=True)
class QuarantinedMessage:
    """An HL7 message the scheduler quarantined (its sender, control id, type and why; not the message)."""

    sending_facility: str
    control_id: str
    message_type: str
    reason: str
    received_at: datetime


@dataclass(frozen=True)
class RescheduleTask:
    """A reschedule request the patient left untouched: staff move (or cancel) the appointment by due_at."""

    reschedule_id: str
    appointment_id: str
    provider_id: str
    appointment_type: str | None  # from the appointment's own events, when the console has seen them
    starts_at: datetime  # the appointment's start when the task opened
    opened_at: datetime
    due_at: datetime

    def state(self, now: datetime) -> DeadlineState:
        return deadline_state(self.due_at, now, RESCHEDULE_SOON)


@dataclass(frozen=True)
class AppointmentNow:
    """What the read model knows of a task's appointment now."""

    starts_at: datetime | None
    settled: bool  # cancelled, checked in, no-show or completed


def reschedule_task_open(task: RescheduleTask, appointment: AppointmentNow | None, now: datetime) -> bool:
    """Whether staff still have to act: the appointment has not started, nobody cancelled, moved or
    saw it through meanwhile. Derived from the facts as they stand, so the task and the appointment's
    events (other topics) may arrive in any order. A move the console has not yet seen of an
    appointment moved *before* the task opened hides the task until that event arrives."""
    if task.starts_at <= now:
        return False  # the appointment's time came: a missed visit is the no-show flow's
    if appointment is None:
        return True
    if appointment.settled:
        return False
    return appointment.starts_at is None or appointment.starts_at == task.starts_at
