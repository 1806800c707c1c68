"""A reschedule task stays on the worklist while its appointment still needs moving: by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.console.domain.worklists import AppointmentNow, RescheduleTask, reschedule_task_open

T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # the task opens
STARTS = T0 + timedelta(hours=6)
TASK = RescheduleTask("rs-1", "a-1", "dr-a", None, STARTS, T0, T0 + timedelta(hours=4))


@pytest.mark.parametrize(
    ("appointment", "is_open"),
    [
        (None, True),  # the appointment's own events not seen (yet): the task alone counts
        (AppointmentNow(STARTS, settled=False), True),  # booked, still at the time the patient wanted to move
        (AppointmentNow(None, settled=False), True),  # only a fact without times seen so far
        (AppointmentNow(STARTS + timedelta(days=2), settled=False), False),  # staff moved it
        (AppointmentNow(STARTS, settled=True), False),  # cancelled, checked in, no-show or completed
        (AppointmentNow(STARTS + timedelta(days=2), settled=True), False),
    ],
)
def test_open_while_the_appointment_is_unchanged(appointment: AppointmentNow | None, is_open: bool) -> None:
    assert reschedule_task_open(TASK, appointment, T0 + timedelta(minutes=1)) is is_open


def test_the_appointments_start_ends_the_task() -> None:
    unchanged = AppointmentNow(STARTS, settled=False)
    assert reschedule_task_open(TASK, unchanged, STARTS - timedelta(seconds=1))
    assert not reschedule_task_open(TASK, unchanged, STARTS)
    assert not reschedule_task_open(TASK, None, STARTS + timedelta(hours=1))


def test_deadline_reads_on_time_due_soon_overdue() -> None:
    assert TASK.state(T0) == "on_time"
    assert TASK.state(T0 + timedelta(hours=2, minutes=59)) == "on_time"
    assert TASK.state(T0 + timedelta(hours=3)) == "due_soon"
    assert TASK.state(T0 + timedelta(hours=4)) == "overdue"
