"""A waitlisted patient answers an offer from the link in their message. The page shows the slot;
"Book this time" takes the ordinary path in one transaction: waitlist.accept (a hold, first acceptance
wins under the provider's lock) and confirm. Whoever comes second finds the offer closed ("this slot
has been taken") and stays on the waitlist; a repeated answer changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

from . import commands, waitlist
from .metrics import REFILL_SECONDS, REFILLS

OfferState = Literal["open", "booked", "taken", "expired"]
_HELD = ("pending", "booked", "arrived", "checked-in", "fulfilled")


@dataclass(frozen=True)
class OfferView:
    """What the patient's page may show of an offer: its state, the practice and the slot's start."""

    state: OfferState
    clinic_id: str
    starts_at: datetime
    appointment_id: str | None


async def view(conn: Connection, offer_id: str, now: datetime) -> OfferView | None:
    row = await conn.fetchrow(
        "SELECT o.status, o.clinic_id, o.starts_at, o.expires_at, o.appointment_id, a.status AS appointment_status"
        " FROM waitlist_offers o LEFT JOIN appointments a ON a.appointment_id = o.appointment_id"
        " WHERE o.offer_id = $1",
        offer_id,
    )
    if row is None:
        return None
    return OfferView(_state(row["status"], row["expires_at"], row["appointment_status"], now), row["clinic_id"],
                     row["starts_at"], row["appointment_id"])  # fmt: skip


def _state(status: str, expires_at: datetime, appointment_status: str | None, now: datetime) -> OfferState:
    if status == "accepted":
        # Accepted through the staff API and never confirmed: the hold lapsed and the slot went on.
        return "booked" if appointment_status in _HELD else "taken"
    if status == "open":
        return "open" if expires_at > now else "expired"
    return "expired" if status == "expired" else "taken"


async def book(uow: UnitOfWork, offer_id: str, now: datetime) -> commands.Result:
    """Accept the offer and confirm its hold, or the refusal (409 offer_closed: taken or expired)."""
    accepted = await waitlist.accept(uow, offer_id, now)
    if accepted.appointment is None or accepted.appointment["status"] != "pending":
        return accepted  # refused, or already accepted and confirmed before: nothing changes
    confirmed = await commands.change(uow, accepted.appointment["appointment_id"], "confirm", now=now, by="patient")
    if confirmed.reason is None:
        await _count_refill(uow.conn, confirmed.appointment or {}, now)
    return confirmed


async def _count_refill(conn: Connection, appointment: dict[str, Any], now: datetime) -> None:
    first_offered = await conn.fetchval(
        "SELECT min(created_at) FROM waitlist_offers WHERE provider_id = $1 AND starts_at = $2",
        appointment["provider_id"],
        appointment["starts_at"],
    )
    REFILLS.labels(appointment["clinic_id"]).inc()
    if first_offered is not None:
        REFILL_SECONDS.labels(appointment["clinic_id"]).observe(max(0.0, (now - first_offered).total_seconds()))
