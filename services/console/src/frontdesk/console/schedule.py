"""Today's schedule: scheduler's appointment events (and visit.completed) into the read model, and
the screen per provider (booked / checked in / completed / no-show, cancelled ones apart).

appointment.booked / .rescheduled / .cancelled / .checked_in / .no_show, visit.completed (with an
appointment id) -> console_appointments; appointment.held -> console_holds (a held slot and when
the hold lapses: the screen lists those still in force, soonest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from frontdesk.common.clinics import get_clinic
from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentHeld,
    AppointmentNoShow,
    AppointmentRescheduled,
    Event,
    VisitCompleted,
)
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from .adapters import patient_loops as loops
from .adapters import repository
from .adapters import schedule as store
from .domain.schedule import Hold, KeptZones, ProviderDay, Status, by_provider
from .patient_loops import emitted_at


async def handle_booked(event: AppointmentBooked, uow: UnitOfWork) -> None:
    await store.fact(
        uow.conn,
        event.appointment_id,
        event.clinic_id,
        provider_id=event.provider_id,
        appointment_type=event.appointment_type,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
    )


async def handle_held(event: AppointmentHeld, uow: UnitOfWork) -> None:
    hold = Hold(
        appointment_id=event.appointment_id,
        provider_id=event.provider_id,
        appointment_type=event.appointment_type,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        held_at=event.held_at,
        expires_at=event.expires_at,
    )
    await store.held(uow.conn, event.clinic_id, hold)


async def handle_rescheduled(event: AppointmentRescheduled, uow: UnitOfWork) -> None:
    await store.rescheduled(
        uow.conn, event.appointment_id, event.clinic_id, event.provider_id, event.starts_at, event.ends_at
    )
    moved_at = emitted_at(uow)
    if event.handled_by is not None and moved_at is not None:  # the patient moved it on their page
        await loops.self_rescheduled(
            uow.conn, event.appointment_id, event.starts_at, event.clinic_id, event.handled_by, moved_at
        )


async def handle_cancelled(event: AppointmentCancelled, uow: UnitOfWork) -> None:
    await store.fact(
        uow.conn,
        event.appointment_id,
        event.clinic_id,
        provider_id=event.provider_id,
        cancelled_at=event.cancelled_at,
        late_cancel=event.late,
    )


async def handle_checked_in(event: AppointmentCheckedIn, uow: UnitOfWork) -> None:
    await store.fact(
        uow.conn,
        event.appointment_id,
        event.clinic_id,
        provider_id=event.provider_id,
        checked_in_at=event.checked_in_at,
    )


async def handle_no_show(event: AppointmentNoShow, uow: UnitOfWork) -> None:
    await store.fact(
        uow.conn,
        event.appointment_id,
        event.clinic_id,
        provider_id=event.provider_id,
        starts_at=event.starts_at,
        no_show=event.kind,
    )


async def handle_visit_completed(event: VisitCompleted, uow: UnitOfWork) -> None:
    if event.appointment_id is None:
        return  # a walk-in's visit is on no schedule
    await store.fact(
        uow.conn, event.appointment_id, event.clinic_id, provider_id=event.provider_id, completed_at=event.completed_at
    )


HANDLERS: dict[type[Event], Handler] = {
    AppointmentBooked: handle_booked,
    AppointmentHeld: handle_held,
    AppointmentRescheduled: handle_rescheduled,
    AppointmentCancelled: handle_cancelled,
    AppointmentCheckedIn: handle_checked_in,
    AppointmentNoShow: handle_no_show,
    VisitCompleted: handle_visit_completed,
}


@dataclass(frozen=True)
class ScheduleScreen:
    clinic_id: str
    clinic_name: str
    timezone: str
    zones: KeptZones  # each provider's, for the times shown
    today: date  # the clinic's; a provider kept in another zone has their own today
    now: datetime
    providers: list[ProviderDay]
    holds: list[Hold]  # held slots (any day) still in force, the soonest to lapse first
    version: int
    last_event_at: datetime | None

    def total(self, status: Status) -> int:
        return sum(p.count(status) for p in self.providers)


async def schedule_screen(conn: Connection, clinic_id: str, now: datetime) -> ScheduleScreen | None:
    """None when the console has not seen this clinic's configuration."""
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        return None
    zones = KeptZones.of_clinic(clinic)
    activity = await repository.activity(conn, clinic_id)
    starting = await store.starting_between(conn, clinic_id, *zones.todays_span(now))
    return ScheduleScreen(
        clinic_id=clinic_id,
        clinic_name=clinic.name,
        timezone=clinic.timezone,
        zones=zones,
        today=zones.today(None, now),
        now=now,
        providers=by_provider(a for a in starting if zones.is_today(a, now)),
        holds=await store.holds_in_force(conn, clinic_id, now),
        version=activity.version,
        last_event_at=activity.last_event_at,
    )
