"""Waitlist backfill: a freed slot is offered to the best-ranked waiting patients in small batches;
the first to accept gets it through the hold path, the others hear it is gone. A batch nobody takes
before it expires (a durable timer) passes the slot on to the next batch."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from frontdesk.common.contracts import ClinicConfig, WaitlistOfferClosed, WaitlistOffered
from frontdesk.common.timer_payloads import OfferExpiryTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from .adapters import repository
from .adapters import waitlist as store
from .adapters.clinics import clinic_of
from .booking import BookCommand, Result, book, now_utc
from .domain.appointments import Appointment
from .domain.slots import Interval
from .domain.waitlist import WaitlistOffer
from .telemetry import SLOTS_OFFERED


async def offer_freed_slot(uow: UnitOfWork, clinic: ClinicConfig, freed: Appointment, now: datetime) -> int:
    """Offer a slot that a cancellation, no-show or reschedule freed; return how many offers went out."""
    if freed.starts_at <= now:
        return 0  # the time has come and gone: nothing to offer
    offered = await _offer_batch(
        uow,
        clinic,
        freed.clinic_id,
        freed.provider_id,
        freed.appointment_type,
        freed.window,
        exclude_patient=freed.patient_id,
        now=now,
    )
    if offered:
        SLOTS_OFFERED.labels(freed.clinic_id).inc()
    return offered


async def _offer_batch(
    uow: UnitOfWork,
    clinic: ClinicConfig,
    clinic_id: str,
    provider_id: str,
    appointment_type: str,
    slot: Interval,
    exclude_patient: str | None,
    now: datetime,
) -> int:
    settings = clinic.scheduling
    waiting = await store.waiting_for(
        uow.conn, clinic_id, provider_id, appointment_type, slot, exclude_patient, settings.waitlist_batch_size
    )
    if not waiting:
        return 0
    batch_id = "batch-" + uuid.uuid4().hex[:16]
    expires = min(now + timedelta(seconds=settings.waitlist_offer_ttl_seconds), slot.start)
    for entry in waiting:
        offer_id = "offer-" + uuid.uuid4().hex[:16]
        await store.add_offer(
            uow.conn, offer_id, batch_id, entry.waitlist_id, clinic_id, provider_id, appointment_type, slot, expires
        )
        await uow.emit(
            WaitlistOffered(
                offer_id=offer_id,
                waitlist_id=entry.waitlist_id,
                patient_id=entry.patient_id,
                clinic_id=clinic_id,
                provider_id=provider_id,
                appointment_type=appointment_type,
                starts_at=slot.start,
                ends_at=slot.end,
                expires_at=expires,
            )
        )
    await uow.set_timer(f"offer:{batch_id}", expires, OfferExpiryTimer(batch_id=batch_id))
    return len(waiting)


async def _close(uow: UnitOfWork, offer: WaitlistOffer, outcome: str, appointment_id: str | None = None) -> None:
    await store.close_offer(uow.conn, offer.offer_id, outcome, appointment_id)
    patient_id = await store.patient_of(uow.conn, offer.waitlist_id)
    await uow.emit(
        WaitlistOfferClosed(
            offer_id=offer.offer_id,
            waitlist_id=offer.waitlist_id,
            patient_id=patient_id,
            clinic_id=offer.clinic_id,
            outcome=outcome,
            appointment_id=appointment_id,
        )
    )


async def accept(uow: UnitOfWork, offer_id: str, now: datetime | None = None) -> Result:
    """The patient takes the offer: a hold through the ordinary hold path, then confirm as usual."""
    now = now or now_utc()
    provider_id = await store.provider_of_offer(uow.conn, offer_id)
    if provider_id is None:
        return Result(404, reason="not_found", detail=f"no offer {offer_id}")
    # The provider's writer lock first, then the offer rows: two patients accepting offers of the same
    # slot queue here instead of deadlocking (each holding its own offer row, wanting the lock).
    await repository.lock_provider(uow.conn, provider_id)
    offer = await store.lock_offer(uow.conn, offer_id)
    assert offer is not None
    if offer.status == "accepted":
        assert offer.appointment_id is not None
        appointment = await repository.get_appointment(uow.conn, offer.appointment_id)
        assert appointment is not None
        return Result(200, appointment=appointment, changed=False)
    if offer.status != "open" or offer.expires_at <= now:
        return Result(409, reason="offer_closed", detail="the slot is no longer available")
    entry = await store.lock_entry(uow.conn, offer.waitlist_id)
    assert entry is not None
    result = await book(
        uow,
        BookCommand(
            request_id=f"waitlist:{offer_id}",
            patient_id=entry.patient_id,
            clinic_id=offer.clinic_id,
            provider_id=offer.provider_id,
            appointment_type=offer.appointment_type,
            starts_at=offer.starts_at,
            ends_at=offer.ends_at,
        ),
        hold=True,
        source="waitlist",
        now=now,
    )
    if result.appointment is None:
        await _close(uow, offer, "taken")
        return Result(409, reason="offer_closed", detail="the slot is no longer available", conflict=result.conflict)
    appointment_id = result.appointment.appointment_id
    await _close(uow, offer, "accepted", appointment_id)
    await store.mark_booked(uow.conn, offer.waitlist_id, appointment_id)
    for other in await store.lock_other_open_offers(uow.conn, offer.provider_id, offer.starts_at, offer_id):
        await _close(uow, other, "taken")
    return result


async def on_offer_expiry(timer: Timer[OfferExpiryTimer], uow: UnitOfWork) -> None:
    """A batch ran out of time: close its open offers and pass the slot to the next batch."""
    rows = await store.lock_open_batch(uow.conn, timer.payload.batch_id)
    if not rows:
        return
    for row in rows:
        await _close(uow, row, "expired")
    first = rows[0]
    clinic = await clinic_of(uow, first.clinic_id)
    now = now_utc()
    slot = first.slot
    if clinic is None or slot.start <= now:
        return
    if await repository.first_conflict(uow.conn, first.provider_id, slot) is not None:
        return  # booked meanwhile by other means
    await _offer_batch(uow, clinic, first.clinic_id, first.provider_id, first.appointment_type, slot, None, now)


async def reoffer_lapsed_hold(uow: UnitOfWork, appointment: Appointment, now: datetime) -> int:
    """A waitlisted patient accepted but never confirmed: their hold expired. Their entry lapses and
    the slot goes to the next batch (patients already offered this slot are not asked again)."""
    await store.lapse(uow.conn, appointment.appointment_id)
    clinic = await clinic_of(uow, appointment.clinic_id)
    if clinic is None or appointment.starts_at <= now:
        return 0
    return await _offer_batch(
        uow,
        clinic,
        appointment.clinic_id,
        appointment.provider_id,
        appointment.appointment_type,
        appointment.window,
        exclude_patient=appointment.patient_id,
        now=now,
    )
