"""Event handlers: thin glue between events, the domain and the database.

Plans: a reminder when the scheduler says one is due, a next-day check-in and a recall after each
visit, same-evening outreach after a no-show, a callback task for staff when the call-router asks.
Every planned message goes through `sending` (contact policy, delivery, at most once).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

from frontdesk.common import patient_links
from frontdesk.common.clinics import get_clinic, require_clinic
from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    CallbackRequested,
    ClinicConfig,
    FollowupEscalated,
    FollowupScheduled,
    MessageRequested,
    VisitCompleted,
)
from frontdesk.common.timer_payloads import CallbackEscalateTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import sending
from .adapters import appointment_rows, message_rows, repository
from .domain import planning
from .domain.templates import TEMPLATES, appointment_when
from .telemetry import PLANNED


def followup_id(kind: str, base: str) -> str:
    """`fu-<kind>-<base>`, hashed when that would exceed the 128 characters an Id may have."""
    candidate = f"fu-{kind}-{base}"
    if len(candidate) <= 128:
        return candidate
    return f"fu-{kind}-h-" + hashlib.sha256(base.encode()).hexdigest()[:40]


def _token(*parts: str) -> str:
    """A short opaque link token (no patient data in it)."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:10]


async def handle_message_requested(event: MessageRequested, uow: UnitOfWork) -> None:
    # Sent by the clinic's rules (its zone, quiet hours, daily limit): a request from a service that
    # knew the clinic before this one did waits for its configuration instead of being skipped.
    await require_clinic(uow.conn, event.clinic_id)
    await sending.request(
        uow,
        message_request_id=event.message_request_id,
        requested_by=event.requested_by,
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        purpose=event.purpose,
        template=event.template,
        variables=dict(event.variables),
        not_before=event.not_before,
        expires_at=event.expires_at,
    )


async def _plan_message(
    uow: UnitOfWork,
    clinic: ClinicConfig | None,
    *,
    followup_id: str,
    kind: str,
    patient_id: str,
    clinic_id: str,
    due_at: datetime,
    template: str,
    variables: dict[str, str],
    expires_at: datetime | None,
    visit_id: str | None = None,
    appointment_id: str | None = None,
) -> bool:
    if not await repository.plan(
        uow.conn, followup_id, kind, patient_id, clinic_id, due_at, visit_id=visit_id, appointment_id=appointment_id
    ):
        return False  # already planned (redelivery or a repeated business event)
    await sending.request(
        uow,
        message_request_id=followup_id,
        requested_by=sending.SELF,
        patient_id=patient_id,
        clinic_id=clinic_id,
        purpose="treatment",
        template=template,
        variables=variables,
        not_before=due_at,
        expires_at=expires_at,
        followup_id=followup_id,
    )
    await uow.emit(
        FollowupScheduled(
            followup_id=followup_id,
            patient_id=patient_id,
            clinic_id=clinic_id,
            kind=kind,
            due_at=due_at,
            visit_id=visit_id,
            appointment_id=appointment_id,
        )
    )
    PLANNED.labels(kind).inc()
    return True


async def handle_reminder_due(event: AppointmentReminderDue, uow: UnitOfWork) -> None:
    now = sending.now_utc()
    known = await appointment_rows.get(uow.conn, event.appointment_id)
    if known is not None and known.status == "cancelled":
        return  # the appointment was cancelled after the scheduler fired this reminder
    if known is not None and known.starts_at != event.starts_at:
        return  # the appointment moved since this reminder was fired: the scheduler fires new ones
    # The date and time are said where the visit is (appointment_when): a reminder waits for the configuration.
    clinic = await require_clinic(uow.conn, event.clinic_id)
    if known is None:
        await appointment_rows.record(uow.conn, event, "booked")
    variables = appointment_when(event.starts_at, clinic, event.provider_id)
    if event.reschedule_id is not None:  # the reschedule page's link, signed as a "3" reply's, good until the start
        links = patient_links.current("followup")
        token = patient_links.sign("reschedule", event.reschedule_id, event.starts_at, links.keys()[0])
        variables["reschedule_link"] = links.url("reschedule", token)
    await _plan_message(
        uow,
        clinic,
        followup_id=followup_id("reminder", event.reminder_id),
        kind="reminder",
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        due_at=now,
        template="appointment-reminder" if event.reschedule_id is None else "appointment-reminder-link",
        variables=variables,
        expires_at=event.starts_at,
        appointment_id=event.appointment_id,
    )


async def handle_visit_completed(event: VisitCompleted, uow: UnitOfWork) -> None:
    # The check-in's time, template and link are the clinic's: a visit waits for its configuration.
    clinic = await require_clinic(uow.conn, event.clinic_id)
    section = clinic.messaging
    zone = clinic.zone_of(event.provider_id)  # the visit's day, where it took place
    link_base = section.link_base
    check_in_at = planning.next_day_check_in(event.completed_at, zone, section.check_in_time)
    template = section.care_templates.get(event.visit_type) or "check-in-general"
    if template not in TEMPLATES:
        template = "check-in-general"
    first_time = await _plan_message(
        uow,
        clinic,
        followup_id=followup_id("check_in", event.visit_id),
        kind="check_in",
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        due_at=check_in_at,
        template=template,
        variables={"link": f"{link_base}/c/{_token('care', event.visit_id)}"},
        expires_at=check_in_at + timedelta(days=2),
        visit_id=event.visit_id,
    )
    if not first_time:
        return  # this visit was planned already (the same visit delivered again)
    now = sending.now_utc()
    if await appointment_rows.has_future(uow.conn, event.patient_id, now):
        return  # something is already booked: no recall needed
    recall_at = planning.recall_due(event.completed_at, zone, section.recall_months, section.check_in_time)
    # The latest visit sets the recall clock: an earlier recall is superseded; if a later visit's
    # recall exists already (visits arriving out of order), this older visit plans none.
    for other in await message_rows.open_plans(uow.conn, patient_id=event.patient_id, kind="recall"):
        if other.due_at > recall_at:
            return
        await sending.cancel_plan(uow, other.followup_id, "superseded", now)
    await _plan_message(
        uow,
        clinic,
        followup_id=followup_id("recall", event.visit_id),
        kind="recall",
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        due_at=recall_at,
        template="recall",
        variables={"link": f"{link_base}/book"},
        expires_at=recall_at + timedelta(days=30),
        visit_id=event.visit_id,
    )


async def handle_booked(event: AppointmentBooked, uow: UnitOfWork) -> None:
    await appointment_rows.record(uow.conn, event, "booked")
    now = sending.now_utc()
    if event.starts_at > now:
        for recall in await message_rows.open_plans(uow.conn, patient_id=event.patient_id, kind="recall"):
            await sending.cancel_plan(uow, recall.followup_id, "appointment_booked", now)


async def handle_cancelled(event: AppointmentCancelled, uow: UnitOfWork) -> None:
    await appointment_rows.record(uow.conn, event, "cancelled")
    await _withdraw_reminders(uow, event.appointment_id, "appointment_cancelled")


async def handle_rescheduled(event: AppointmentRescheduled, uow: UnitOfWork) -> None:
    await appointment_rows.record(uow.conn, event, "booked")
    # A pending reminder names the old time: withdraw it; the scheduler fires new reminders.
    await _withdraw_reminders(uow, event.appointment_id, "appointment_rescheduled")


async def _withdraw_reminders(uow: UnitOfWork, appointment_id: str, reason: str) -> None:
    now = sending.now_utc()
    for reminder in await message_rows.open_plans(uow.conn, appointment_id=appointment_id, kind="reminder"):
        await sending.cancel_plan(uow, reminder.followup_id, reason, now)


async def handle_no_show(event: AppointmentNoShow, uow: UnitOfWork) -> None:
    clinic = await require_clinic(uow.conn, event.clinic_id)  # the evening is the clinic's: wait for it
    await appointment_rows.record(uow.conn, event, "no_show")
    zone = clinic.zone_of(event.provider_id)  # the evening where the visit was missed
    due = planning.no_show_due(event.starts_at, sending.now_utc(), zone, clinic.messaging.no_show_time)
    await _plan_message(
        uow,
        clinic,
        followup_id=followup_id("no_show", event.appointment_id),
        kind="no_show",
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        due_at=due,
        template="no-show",
        variables={},
        expires_at=due + timedelta(days=2),
        appointment_id=event.appointment_id,
    )


def callback_patient_key(event: CallbackRequested) -> str:
    """followup.scheduled is keyed by patient; an unknown caller is keyed by their opaque token."""
    if event.patient_id:
        return event.patient_id
    key = f"caller:{event.caller_token}"
    return key if len(key) <= 128 else "caller:" + hashlib.sha256(event.caller_token.encode()).hexdigest()[:40]


async def handle_callback_requested(event: CallbackRequested, uow: UnitOfWork) -> None:
    clinic = await get_clinic(uow.conn, event.clinic_id)
    if clinic is None:
        due = event.requested_at
        target = timedelta(minutes=15 if event.urgency == "urgent" else 60)
    else:
        hours: dict[str, list[tuple[time, time]]] = {
            day: [(i.opens, i.closes) for i in intervals] for day, intervals in clinic.hours.items()
        }
        due = planning.next_opening(event.requested_at, clinic.zone, hours, clinic.closures) or event.requested_at
        minutes = (
            clinic.messaging.urgent_callback_target_minutes
            if event.urgency == "urgent"
            else clinic.messaging.callback_target_minutes
        )
        target = timedelta(minutes=minutes)
    escalate_at = due + target
    inserted = await repository.insert_callback(uow.conn, event, due_at=due, escalate_at=escalate_at)
    if not inserted:
        return
    plan_id = followup_id("callback", event.callback_id)
    patient_key = callback_patient_key(event)
    await repository.plan(
        uow.conn, plan_id, "callback", patient_key, event.clinic_id, due, callback_id=event.callback_id
    )
    await uow.set_timer(
        f"callback-escalate:{event.callback_id}", escalate_at, CallbackEscalateTimer(callback_id=event.callback_id)
    )
    await uow.emit(
        FollowupScheduled(
            followup_id=plan_id,
            patient_id=patient_key,
            clinic_id=event.clinic_id,
            kind="callback",
            due_at=due,
            callback_id=event.callback_id,
        )
    )
    PLANNED.labels("callback").inc()


async def on_callback_escalate(timer: Timer[CallbackEscalateTimer], uow: UnitOfWork) -> None:
    callback = await repository.lock_callback(uow.conn, timer.payload.callback_id)
    if callback is None or callback["status"] != "open" or callback["escalated_at"] is not None:
        return
    now = sending.now_utc()
    await repository.mark_callback_escalated(uow.conn, callback["callback_id"], now)
    await uow.emit(
        FollowupEscalated(
            task_id=callback["callback_id"],
            clinic_id=callback["clinic_id"],
            patient_id=callback["patient_id"],
            reason="callback_overdue",
            urgency=callback["urgency"],
            escalated_at=now,
        )
    )
