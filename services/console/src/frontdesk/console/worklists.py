"""The worklists: what staff must act on, built from the owners' events (handlers), and the screen.

callback.requested (handlers.py) / followup.scheduled (kind callback: due) / followup.escalated /
callback.completed -> console_callbacks and console_followup_tasks; review.escalated /
review.recovery_closed -> console_recovery_tasks; waitlist.offer / waitlist.offer_closed ->
console_waitlist_offers; appointment.reschedule_task -> console_reschedule_tasks (open while its
appointment is unchanged: the schedule's facts, schedule.py); hl7.quarantined -> console_hl7_quarantine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from frontdesk.common.clinics import get_clinic
from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import (
    CallbackCompleted,
    Event,
    FollowupEscalated,
    FollowupScheduled,
    Hl7Quarantined,
    RecoveryClosed,
    RescheduleTaskOpened,
    ReviewEscalated,
    WaitlistOfferClosed,
    WaitlistOffered,
)
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from .adapters import repository
from .adapters import worklists as store
from .domain.patient_loops import LoopReport
from .domain.schedule import KeptZones
from .domain.worklists import (
    Callback,
    FollowupTask,
    QuarantinedMessage,
    RecoveryTask,
    RescheduleTask,
    WaitlistOffer,
    reschedule_task_open,
)
from .patient_loops import emitted_at, loop_report

FOLLOWUP_TASK_DAYS = 7  # followup keeps its tasks' state; the console lists a week of escalations


async def handle_followup_scheduled(event: FollowupScheduled, uow: UnitOfWork) -> None:
    if event.kind != "callback" or event.callback_id is None:
        return  # other plans are the patients' messages, not staff work
    await store.callback_fact(uow.conn, event.callback_id, event.clinic_id, "due_at", event.due_at)


async def handle_followup_escalated(event: FollowupEscalated, uow: UnitOfWork) -> None:
    if event.reason == "callback_overdue":  # the task is the callback itself
        await store.callback_fact(uow.conn, event.task_id, event.clinic_id, "escalated_at", event.escalated_at)
    await store.followup_escalated(
        uow.conn, event.task_id, event.clinic_id, event.reason, event.urgency, event.escalated_at
    )


async def handle_callback_completed(event: CallbackCompleted, uow: UnitOfWork) -> None:
    await store.callback_fact(uow.conn, event.callback_id, event.clinic_id, "completed_at", event.completed_at)


async def handle_review_escalated(event: ReviewEscalated, uow: UnitOfWork) -> None:
    task = RecoveryTask(
        recovery_task_id=event.recovery_task_id,
        provider_id=event.provider_id,
        level=event.level,
        scale=event.scale,
        score=event.score,
        due_at=event.due_at,
        escalated_at=event.escalated_at,
    )
    await store.recovery_escalated(uow.conn, task, event.clinic_id, event.review_request_id)


async def handle_recovery_closed(event: RecoveryClosed, uow: UnitOfWork) -> None:
    await store.recovery_closed(
        uow.conn, event.recovery_task_id, event.clinic_id, event.provider_id, event.closed_at, event.within_deadline
    )


async def handle_waitlist_offered(event: WaitlistOffered, uow: UnitOfWork) -> None:
    offer = WaitlistOffer(
        offer_id=event.offer_id,
        provider_id=event.provider_id,
        appointment_type=event.appointment_type,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        expires_at=event.expires_at,
    )
    await store.waitlist_offered(uow.conn, event.clinic_id, offer, emitted_at(uow))


async def handle_waitlist_offer_closed(event: WaitlistOfferClosed, uow: UnitOfWork) -> None:
    await store.waitlist_closed(
        uow.conn, event.offer_id, event.clinic_id, event.outcome, emitted_at(uow), event.appointment_id
    )


async def handle_reschedule_task(event: RescheduleTaskOpened, uow: UnitOfWork) -> None:
    """The scheduler's task, without its patient: staff find the appointment by its id and time."""
    task = RescheduleTask(
        reschedule_id=event.reschedule_id,
        appointment_id=event.appointment_id,
        provider_id=event.provider_id,
        appointment_type=None,
        starts_at=event.starts_at,
        opened_at=event.opened_at,
        due_at=event.due_at,
    )
    await store.reschedule_task(uow.conn, event.clinic_id, task)


async def handle_hl7_quarantined(event: Hl7Quarantined, uow: UnitOfWork) -> None:
    message = QuarantinedMessage(
        event.sending_facility, event.control_id, event.message_type, event.reason, event.received_at
    )
    await store.quarantined(uow.conn, event.clinic_id, message)


HANDLERS: dict[type[Event], Handler] = {
    FollowupScheduled: handle_followup_scheduled,
    FollowupEscalated: handle_followup_escalated,
    CallbackCompleted: handle_callback_completed,
    ReviewEscalated: handle_review_escalated,
    RecoveryClosed: handle_recovery_closed,
    WaitlistOffered: handle_waitlist_offered,
    WaitlistOfferClosed: handle_waitlist_offer_closed,
    RescheduleTaskOpened: handle_reschedule_task,
    Hl7Quarantined: handle_hl7_quarantined,
}


@dataclass(frozen=True)
class WorklistsScreen:
    clinic_id: str
    clinic_name: str
    timezone: str
    zones: KeptZones  # each provider's, for appointments' times
    now: datetime
    callback_minutes: int  # the clinic's callback target (followup escalates after it)
    urgent_callback_minutes: int
    callbacks: list[Callback]
    recovery_tasks: list[RecoveryTask]
    followup_tasks: list[FollowupTask]
    offers: list[WaitlistOffer]
    reschedule_tasks: list[RescheduleTask]  # open ones, by deadline
    quarantine: list[QuarantinedMessage]  # HL7 messages the scheduler quarantined, newest first
    loops: LoopReport  # the waitlist's refills and who handled reschedule requests, the last days
    version: int
    last_event_at: datetime | None

    def callback_deadline(self, callback: Callback) -> datetime | None:
        return callback.deadline(self.callback_minutes, self.urgent_callback_minutes)

    def callback_state(self, callback: Callback) -> str:
        return callback.state(self.now, self.callback_minutes, self.urgent_callback_minutes)


async def worklists_screen(conn: Connection, clinic_id: str, now: datetime) -> WorklistsScreen | None:
    """None when the console has not seen this clinic's configuration."""
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        return None
    activity = await repository.activity(conn, clinic_id)
    return WorklistsScreen(
        clinic_id=clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        zones=KeptZones.of_clinic(clinic),
        now=now,
        callback_minutes=clinic.messaging.callback_target_minutes,
        urgent_callback_minutes=clinic.messaging.urgent_callback_target_minutes,
        callbacks=await store.open_callbacks(conn, clinic_id),
        recovery_tasks=await store.open_recovery_tasks(conn, clinic_id),
        followup_tasks=await store.recent_followup_tasks(conn, clinic_id, now - timedelta(days=FOLLOWUP_TASK_DAYS)),
        offers=await store.offers_in_flight(conn, clinic_id, now),
        reschedule_tasks=await _open_reschedule_tasks(conn, clinic_id, now),
        quarantine=await store.quarantine(conn, clinic_id),
        loops=await loop_report(conn, clinic_id, ZoneInfo(clinic.timezone), now),
        version=activity.version,
        last_event_at=activity.last_event_at,
    )


async def _open_reschedule_tasks(conn: Connection, clinic_id: str, now: datetime) -> list[RescheduleTask]:
    found = await store.reschedule_tasks(conn, [clinic_id], now, limit=500)
    return [task for _, task, appointment in found if reschedule_task_open(task, appointment, now)]


async def open_reschedule_tasks_per_clinic(
    conn: Connection, clinic_ids: list[str] | None, now: datetime
) -> Counter[str]:
    """The Network's share of open items: open reschedule tasks, counted when read. Their openness
    changes with time (the appointment's start) and with other topics' events, so no counter is kept;
    only tasks whose appointment is still ahead are read (an index on the clinic and the start)."""
    found = await store.reschedule_tasks(conn, clinic_ids, now)
    return Counter(clinic for clinic, task, appointment in found if reschedule_task_open(task, appointment, now))
