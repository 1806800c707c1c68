"""A waitlisted patient answers an offer from the link in their message. The page shows the slot;
"Book this time" takes the ordinary path in one transaction: waitlist.accept (a hold, first acceptance
wins under the provider's lock) and confirm. Whoever comes second finds the offer closed ("this slot
has been taken") and is shown the provider's other open times within their waitlist window; picking
one books it the ordinary way (hold + confirm, once per offer). A repeated answer changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle, open_times, waitlist
from .adapters import repository
from .adapters import waitlist as store
from .domain.appointments import Appointment
from .domain.slots import Interval
from .telemetry import REFILL_SECONDS, REFILLS

OfferState = Literal["open", "booked", "taken", "expired"]
_HELD = ("pending", "booked", "arrived", "checked-in", "fulfilled")


def alternative_request(offer_id: str) -> str:
    """The request id of the one booking an offer's alternatives may make (idempotency)."""
    return f"waitlist-alternative:{offer_id}"


@dataclass(frozen=True)
class OfferView:
    """What the patient's page may show of an offer: its state, the practice and the slot's start."""

    state: OfferState
    clinic_id: str
    provider_id: str
    starts_at: datetime
    appointment_id: str | None
    alternatives: tuple[Interval, ...] = ()


async def view(conn: Connection, offer_id: str, now: datetime) -> OfferView | None:
    offer = await store.shown_offer(conn, offer_id)
    if offer is None:
        return None
    state = _state(offer.status, offer.expires_at, offer.appointment_status, now)
    if state in ("taken", "expired"):
        other = await repository.by_request(conn, alternative_request(offer_id))
        if other is not None and other.status in _HELD:  # the patient booked another time instead
            return OfferView("booked", offer.clinic_id, offer.provider_id, other.starts_at, other.appointment_id)
    alternatives = await _alternatives(conn, offer_id, now) if state == "taken" else []
    return OfferView(
        state, offer.clinic_id, offer.provider_id, offer.starts_at, offer.appointment_id, tuple(alternatives)
    )


async def _alternatives(conn: Connection, offer_id: str, now: datetime) -> list[Interval]:
    entry = await store.offer_entry(conn, offer_id)
    if entry is None or entry.entry_status != "waiting":
        return []
    return await open_times.next_open_times(
        conn,
        entry.clinic_id,
        entry.provider_id,
        entry.appointment_type,
        entry.ends_at - entry.starts_at,
        Interval(max(now, entry.window_start), entry.window_end),
    )


def _state(status: str, expires_at: datetime, appointment_status: str | None, now: datetime) -> OfferState:
    if status == "accepted":
        # Accepted through the staff API and never confirmed: the hold lapsed and the slot went on.
        return "booked" if appointment_status in _HELD else "taken"
    if status == "open":
        return "open" if expires_at > now else "expired"
    return "expired" if status == "expired" else "taken"


async def book(uow: UnitOfWork, offer_id: str, now: datetime) -> booking.Result:
    """Accept the offer and confirm its hold, or the refusal (409 offer_closed: taken or expired)."""
    accepted = await waitlist.accept(uow, offer_id, now)
    if accepted.appointment is None or accepted.appointment.status != "pending":
        return accepted  # refused, or already accepted and confirmed before: nothing changes
    confirmed = await lifecycle.change(uow, accepted.appointment.appointment_id, "confirm", now=now, by="patient")
    if confirmed.appointment is not None and confirmed.reason is None:
        await _count_refill(uow.conn, confirmed.appointment, now)
    return confirmed


async def _count_refill(conn: Connection, appointment: Appointment, now: datetime) -> None:
    first_offered = await store.first_offered_at(conn, appointment.provider_id, appointment.starts_at)
    REFILLS.labels(appointment.clinic_id).inc()
    if first_offered is not None:
        REFILL_SECONDS.labels(appointment.clinic_id).observe(max(0.0, (now - first_offered).total_seconds()))


async def book_alternative(uow: UnitOfWork, offer_id: str, starts_at: datetime, now: datetime) -> booking.Result:
    """The offer was taken: book another open time of the same provider and type within the patient's
    waitlist window, by hold + confirm. One booking per offer (its request id), whatever is picked."""
    first = await store.offer_entry(uow.conn, offer_id)
    if first is None:
        return booking.Result(404, reason="not_found", detail="unknown offer")
    await repository.lock_provider(uow.conn, first.provider_id)  # the provider first, as waitlist.accept
    entry = await store.offer_entry(uow.conn, offer_id, lock=True)
    assert entry is not None
    if entry.status not in ("taken", "expired") or entry.entry_status != "waiting":
        return booking.Result(410, reason="offer_closed", detail="nothing left to book on this offer")
    length = entry.ends_at - entry.starts_at
    if not (entry.window_start <= starts_at and starts_at + length <= entry.window_end):
        return booking.Result(422, reason="invalid", detail="outside the waitlist window")
    held = await booking.book(
        uow,
        booking.BookCommand(
            request_id=alternative_request(offer_id),
            patient_id=entry.patient_id,
            clinic_id=entry.clinic_id,
            provider_id=entry.provider_id,
            appointment_type=entry.appointment_type,
            starts_at=starts_at,
        ),
        hold=True,
        source="waitlist",
        now=now,
    )
    if held.appointment is None or held.appointment.status != "pending":
        return held
    booked = await lifecycle.change(uow, held.appointment.appointment_id, "confirm", now=now, by="patient")
    if booked.reason is None:
        await store.mark_booked(uow.conn, entry.waitlist_id, held.appointment.appointment_id)
    return booked
