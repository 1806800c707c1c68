"""Waitlist offers reach the patient. waitlist.offer -> a message with a signed link to the scheduler's
offer page, expiring with the offer (consent, quiet hours and caps as for every message).
waitlist.offer_closed -> a message still waiting to go out (quiet hours, a cap) is withdrawn; a patient
whose offer went to someone else is told by SMS only if the clinic asks for it (waitlist_taken_notice)."""

from __future__ import annotations

from datetime import timedelta

from frontdesk.common import patient_links
from frontdesk.common.clinics import get_clinic, require_clinic
from frontdesk.common.contracts import WaitlistOfferClosed, WaitlistOffered
from frontdesk.common.uow import UnitOfWork

from . import sending
from .adapters import message_rows
from .domain.templates import appointment_when

OFFER_TEMPLATE = "waitlist-offer"
TAKEN_TEMPLATE = "waitlist-taken"
NOTICE_TTL = timedelta(hours=12)


def offer_message_id(offer_id: str) -> str:
    return f"wl-offer:{offer_id}"


def taken_message_id(offer_id: str) -> str:
    return f"wl-taken:{offer_id}"


async def handle_offer(event: WaitlistOffered, uow: UnitOfWork) -> None:
    clinic = await require_clinic(uow.conn, event.clinic_id)  # not projected yet: waits for it
    links = patient_links.current("followup")
    token = patient_links.sign("offer", event.offer_id, event.expires_at, links.keys()[0])
    await sending.request(
        uow,
        message_request_id=offer_message_id(event.offer_id),
        requested_by=sending.SELF,
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        purpose="treatment",
        template=OFFER_TEMPLATE,
        variables={
            **appointment_when(event.starts_at, clinic, event.provider_id),
            "offer_link": links.url("offer", token),
        },
        expires_at=event.expires_at,
    )


async def handle_offer_closed(event: WaitlistOfferClosed, uow: UnitOfWork) -> None:
    # Whatever the outcome, an offer message still waiting (quiet hours, a cap) has nothing left to offer.
    withdrawn = await sending.cancel(uow, offer_message_id(event.offer_id), f"offer {event.outcome}")
    if withdrawn or event.outcome != "taken":
        return  # never heard of the slot, booked it (appointment.booked does the rest), or it ran out
    clinic = await get_clinic(uow.conn, event.clinic_id)
    offer = await message_rows.lock_message(uow.conn, offer_message_id(event.offer_id))
    if clinic is None or not clinic.messaging.waitlist_taken_notice or offer is None or offer.status != "sent":
        return
    await sending.request(
        uow,
        message_request_id=taken_message_id(event.offer_id),
        requested_by=sending.SELF,
        patient_id=event.patient_id,
        clinic_id=event.clinic_id,
        purpose="treatment",
        template=TAKEN_TEMPLATE,
        variables={k: offer.variables[k] for k in ("date", "time")},
        # News of a lost slot is worth little the next day; the daily cap on treatment messages
        # (the offer itself counted) usually means it is skipped, which is the cap doing its job.
        expires_at=sending.now_utc() + NOTICE_TTL,
    )
