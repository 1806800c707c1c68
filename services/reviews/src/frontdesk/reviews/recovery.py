"""Feedback answers and service recovery: the commands behind the HTTP API, and the deadline timer.

Each command runs in one unit of work (its rows, the events it emits and the timers it sets commit
together). Errors a caller can fix are `CommandError`s with a message and an HTTP status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from frontdesk.common import patient_links
from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import RecoveryClosed, ReviewReceived
from frontdesk.common.timer_payloads import ReviewRecoveryDeadlineTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .adapters import repository
from .domain import feedback
from .domain.records import FeedbackLink, StoredTask, escalated, fact

DEFAULT_DEADLINE = timedelta(hours=24)
LINK_NOT_VALID = "This feedback link is not valid."
LINK_EXPIRED = "This feedback link has expired."


class CommandError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def now() -> datetime:
    return datetime.now(UTC)


def task_id_for(review_request_id: str) -> str:
    return "rt-" + review_request_id


async def _watch_deadline(uow: UnitOfWork, task_id: str, due_at: datetime) -> None:
    """Check the task again at `due_at` (a timer of its own per deadline)."""
    await uow.set_timer(
        f"recovery:{task_id}:{int(due_at.timestamp())}", due_at, ReviewRecoveryDeadlineTimer(task_id=task_id)
    )


async def check_link(uow: UnitOfWork, token: str, keys: list[bytes], *, lock: bool = False) -> FeedbackLink:
    """The link with its request, or CommandError (404 unknown/revoked, 410 expired)."""
    try:
        verified = patient_links.verify("feedback", token, keys, now())
    except patient_links.LinkExpired:
        raise CommandError(410, LINK_EXPIRED) from None
    except patient_links.LinkError:
        raise CommandError(404, LINK_NOT_VALID) from None
    row = await repository.link_with_request(uow.conn, verified.link_id, lock=lock)
    if row is None or row.revoked_at is not None:
        raise CommandError(404, LINK_NOT_VALID)
    return row


async def _deadline(uow: UnitOfWork, clinic_id: str) -> timedelta:
    clinic = await get_clinic(uow.conn, clinic_id)
    return timedelta(hours=clinic.reviews.recovery_deadline_hours) if clinic else DEFAULT_DEADLINE


async def submit_feedback(uow: UnitOfWork, token: str, keys: list[bytes], score: int, comment: str | None) -> None:
    """Record the patient's answer once; a low score opens a recovery task with a deadline."""
    link = await check_link(uow, token, keys, lock=True)
    if link.used_at is not None:
        raise CommandError(410, "This feedback link has already been used. Thank you!")
    scale = link.rating_scale
    if problem := feedback.score_problem(scale, score):
        raise CommandError(422, problem)
    text = (comment or "").strip() or None
    if text is not None and len(text) > feedback.MAX_COMMENT:
        raise CommandError(422, f"the comment must be at most {feedback.MAX_COMMENT} characters")
    at = now()
    await repository.record_response(uow.conn, link.token_id, link.review_request_id, scale, score, text, at)
    await uow.emit(ReviewReceived(**fact(link), scale=scale, score=score, has_comment=text is not None, received_at=at))
    telemetry.RESPONSES.labels(link.clinic_id, link.provider_id, scale).inc()
    telemetry.SCORES.labels(link.clinic_id, link.provider_id, scale).observe(score)
    if feedback.is_low(scale, score):
        task_id = task_id_for(link.review_request_id)
        due_at = at + await _deadline(uow, link.clinic_id)
        if await repository.open_task(uow.conn, task_id, link, at, due_at):
            await _watch_deadline(uow, task_id, due_at)
            await uow.emit(escalated(fact(link), task_id, 1, scale, score, due_at, at))
            telemetry.ESCALATIONS.labels(link.clinic_id, link.provider_id, "1").inc()


async def on_recovery_deadline(timer: Timer[ReviewRecoveryDeadlineTimer], uow: UnitOfWork) -> None:
    """A recovery deadline passed: escalate again if untouched, keep watching until closed."""
    task_id = timer.payload.task_id
    task = await repository.get_task(uow.conn, task_id, lock=True)
    if task is None:
        return
    at = now()
    decision = feedback.on_deadline(task.for_deadline(), at, await _deadline(uow, task.clinic_id))
    if decision.next_check_at is None:
        return
    if decision.escalate:
        level = task.level + 1
        await repository.escalate_task(uow.conn, task_id, level, decision.next_check_at, at)
        await uow.emit(escalated(fact(task), task_id, level, task.scale, task.score, decision.next_check_at, at))
        telemetry.ESCALATIONS.labels(task.clinic_id, task.provider_id, str(level)).inc()
    else:
        await repository.rearm_task(uow.conn, task_id, decision.next_check_at, at)
    await _watch_deadline(uow, task_id, decision.next_check_at)


async def add_note(uow: UnitOfWork, task_id: str, author: str, note: str, *, close: bool) -> StoredTask:
    """A staff note touches the task; a closing note closes it (once)."""
    task = await repository.get_task(uow.conn, task_id, lock=True)
    if task is None:
        raise CommandError(404, f"no recovery task {task_id}")
    if task.closed_at is not None:
        raise CommandError(409, f"recovery task {task_id} is already closed")
    at = now()
    await repository.add_note(uow.conn, task_id, author, note, at, closes=close)
    if close:
        within = at <= task.first_due_at
        await uow.emit(
            RecoveryClosed(
                recovery_task_id=task_id,
                review_request_id=task.review_request_id,
                clinic_id=task.clinic_id,
                provider_id=task.provider_id,
                closed_at=at,
                within_deadline=within,
            )
        )
        telemetry.RECOVERIES_CLOSED.labels(task.clinic_id, task.provider_id, str(within).lower()).inc()
    updated = await repository.get_task(uow.conn, task_id)
    assert updated is not None
    return updated
