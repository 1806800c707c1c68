"""How followup learns to reach a patient and what they agreed to: one path, whoever tells it.

- A clinic registers the patient (`PUT /v1/patients/{id}/contact`) and staff record consents
  (`PUT .../consent/{purpose}`): entrypoints/http.py checks who may (docs/patients.md), then calls
  `register` / `record_consent`.
- The patient proves a number on a clinic's booking page (booking.contact_verified, the number sealed
  for followup as the booking code was): `handle_contact_verified` weighs it
  (domain/verified_number.py) and calls the same two, with the consent source `self_service_verified`.

Only a change of consent is recorded, and each is announced (contact.preference_changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Literal

from frontdesk.common.contracts import BookingContactVerified, ContactPreferenceChanged
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.sealing import Keyring, SealingError
from frontdesk.common.uow import UnitOfWork

from .adapters import booking_rows, repository
from .adapters.policy_inputs import Contact
from .domain import consent, verified_number
from .domain.consent import ConsentEntry, ConsentSource, Purpose
from .telemetry import VERIFIED_NUMBERS

log = get_logger(__name__)
KEYRING = Keyring.from_env()  # the booking-codes recipient's keys (deploy: followup's secret)
_ANNOUNCED: dict[ConsentSource, Literal["reply", "staff", "import", "self_service"]] = {
    "registration": "staff",
    "staff": "staff",
    "reply": "reply",
    "import": "import",
    "self_service_verified": "self_service",
}


async def record_consent(
    uow: UnitOfWork, patient_id: str, wanted: Mapping[Purpose, bool], source: ConsentSource, now: datetime
) -> list[ConsentEntry]:
    """Record what the patient agreed to (or refused), where it changes what is on file; announce it."""
    ledger = await repository.ledger(uow.conn, patient_id)
    entries = [
        ConsentEntry(purpose, opted_in, now, source)
        for purpose, opted_in in wanted.items()
        if consent.state(ledger, purpose) != ("granted" if opted_in else "opted_out")
    ]
    await repository.add_consent(uow.conn, patient_id, entries)
    for entry in entries:
        await uow.emit(
            ContactPreferenceChanged(
                patient_id=patient_id,
                purpose=entry.purpose,
                opted_in=entry.opted_in,
                changed_at=now,
                source=_ANNOUNCED[source],
            )
        )
    return entries


async def register(
    uow: UnitOfWork,
    patient_id: str,
    details: Contact,
    consents: Mapping[Purpose, bool],
    source: ConsentSource,
    now: datetime,
) -> None:
    """Record (or replace) how to reach the patient, and the consents they gave with it. The caller
    holds the patient's lock (repository.lock_patient) and has decided who may."""
    await repository.upsert_contact(
        uow.conn, patient_id, details.phone, details.email, details.timezone, details.state, details.preferred_channel
    )
    await record_consent(uow, patient_id, consents, source, now)


async def number_opted_out(conn: Connection, phone: str) -> bool:
    """Whether any patient with this number opted out of treatment messages (STOP turns off them all)."""
    for patient_id in await repository.patients_with_phone(conn, phone):
        if consent.state(await repository.ledger(conn, patient_id), "treatment") == "opted_out":
            return True
    return False


async def handle_contact_verified(event: BookingContactVerified, uow: UnitOfWork) -> None:
    """A booking page's code was typed: the number it reached may become the patient's contact, and
    their consent to treatment messages (domain/verified_number.py). Once per booking attempt."""
    conn, patient_id = uow.conn, event.patient_id
    if await booking_rows.verified_contact_seen(conn, event.verification_id):
        return  # this attempt's number was weighed before (the event played again)
    try:
        phone = event.open(KEYRING)
    except (SealingError, ValueError):
        log.warning("a verified booking number that does not open", verification_id=event.verification_id)
        await _done(conn, event, "unreadable")
        return
    await repository.lock_patient(conn, patient_id)
    contact = await repository.get_contact(conn, patient_id, lock=True)
    treatment = consent.state(await repository.ledger(conn, patient_id), "treatment")
    evidence = verified_number.weigh(
        phone, contact.phone if contact else None, treatment, await number_opted_out(conn, phone)
    )
    if evidence.set_phone and await _new_to_followup(conn, patient_id):
        await repository.link_patient(conn, patient_id, event.registered_by)  # as the scheduler registered them
    wanted: dict[Purpose, bool] = {"treatment": True} if evidence.grant_treatment else {}
    if evidence.set_phone:
        details = replace(contact, phone=phone) if contact else Contact(phone)
        await register(uow, patient_id, details, wanted, "self_service_verified", event.verified_at)
    else:
        await record_consent(uow, patient_id, wanted, "self_service_verified", event.verified_at)
    await _done(conn, event, evidence.outcome)


async def _new_to_followup(conn: Connection, patient_id: str) -> bool:
    """Nobody registered the patient here and nothing is on file (docs/patients.md)."""
    registered = await repository.registering_clinics(conn, patient_id)
    return not registered and not await repository.patient_on_file(conn, patient_id)


async def _done(conn: Connection, event: BookingContactVerified, outcome: str) -> None:
    await booking_rows.record_verified_contact(conn, event.verification_id, event.patient_id, event.clinic_id, outcome)
    VERIFIED_NUMBERS.labels(outcome).inc()
