"""Self-service booking from a clinic's booking page: the bookable times, a hold while the patient
proves their number with a one-time code, then the confirmation. The hold and the confirmation are the
ordinary booking use cases (booking.book with hold=True, lifecycle "confirm"): no second booking path,
the same exclusion constraint and provider lock, so two patients racing for one slot get one booking.

The code travels to followup sealed (booking.code_requested), is kept here only as a keyed digest,
allows a few wrong tries and expires with the hold. Nothing about the patient is looked up before their
code is right, so the page answers the same whether a number is known or not. A right code hands the
number it reached to followup, sealed the same way (booking.contact_verified): the patient's reminders
and follow-ups go to it. A code followup could not text (booking.code_failed) ends the attempt at once.
A booking link asked for a caller may be texted to them by followup (booking.link_requested, sealed).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from frontdesk.common import patient_links
from frontdesk.common.contracts import (
    BOOKING_CODES_RECIPIENT,
    BookingCodeRequested,
    BookingContactVerified,
    BookingLinkRequested,
    ClinicConfig,
    CodeFailure,
    booking_code_aad,
    booking_contact_aad,
    booking_link_aad,
)
from frontdesk.common.db import Connection
from frontdesk.common.sealing import Keyring
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle, open_times
from .adapters import online_booking as rows
from .adapters import patients, repository
from .adapters.clinics import clinic_of
from .domain import booking as booking_rules
from .domain import online_booking as rules
from .domain.appointments import Appointment
from .domain.slots import Interval
from .telemetry import BOOKING_CODE_FAILURES

KEYRING = Keyring.from_env()  # only the booking-codes recipient's keys (deploy: the scheduler's secret)
SEARCH_DAYS = 14
TIMES_SHOWN = 12
LINK_TTL = timedelta(days=3)


def link_keys() -> list[bytes]:
    return patient_links.current("scheduler").keys()


def can_send_codes() -> bool:
    return KEYRING.has(BOOKING_CODES_RECIPIENT)


def page_open(clinic: ClinicConfig | None, via_link: bool) -> bool:
    """Whether the clinic takes bookings on its page: public, or (via a booking link) link or public."""
    mode = clinic.scheduling.online_booking if clinic else "off"
    return mode == "public" or (via_link and mode == "link")


@dataclass(frozen=True)
class BookableTime:
    provider_id: str
    window: Interval


async def bookable_times(
    conn: Connection, clinic: ClinicConfig, type_id: str, provider_id: str | None, now: datetime
) -> list[BookableTime]:
    """The next open times of the type (one provider, or the first free provider at each time)."""
    kind = booking_rules.find_type(clinic, type_id)
    if kind is None:
        return []
    search = Interval(now, now + timedelta(days=SEARCH_DAYS))
    found: dict[datetime, BookableTime] = {}
    for provider in clinic.providers:
        if provider_id not in (None, provider.provider_id) or not booking_rules.offers_type(provider, type_id):
            continue
        slot_rules = booking_rules.rules_for(clinic, provider, kind)
        for slot in await open_times.free_slots(conn, provider, slot_rules, search, now, limit=TIMES_SHOWN):
            found.setdefault(slot.start, BookableTime(provider.provider_id, slot))  # first available provider
    return [found[start] for start in sorted(found)[:TIMES_SHOWN]]


async def issue_link(
    uow: UnitOfWork, clinic_id: str, issued_by: str, now: datetime, send_to: str | None = None
) -> tuple[str, datetime]:
    """A signed, single-use link to the clinic's booking page (for a caller: answering service, callback).
    `send_to` (E.164): followup texts it to that caller (booking.link_requested, the number sealed for it
    as a booking code's is, in the same transaction as the link; never stored here)."""
    link_id = secrets.token_urlsafe(12)
    expires_at = (now + LINK_TTL).replace(microsecond=0)
    await rows.insert_link(uow.conn, link_id, clinic_id, issued_by, expires_at)
    if send_to is not None:
        sealed = KEYRING.seal(
            BOOKING_CODES_RECIPIENT, json.dumps({"phone": send_to}), booking_link_aad(clinic_id, link_id)
        )
        await uow.emit(
            BookingLinkRequested(
                link_id=link_id, clinic_id=clinic_id, expires_at=expires_at, requested_at=now, sealed=sealed
            )
        )
    settings = patient_links.current("scheduler")
    return settings.url("booking", patient_links.sign("booking", link_id, expires_at, settings.keys()[0])), expires_at


async def usable_link(conn: Connection, link_id: str, now: datetime) -> rows.BookingLink | None:
    link = await rows.get_link(conn, link_id)
    return link if link is not None and link.used_at is None and link.expires_at > now else None


# --- step 1: a hold and a code -------------------------------------------------------------------


@dataclass(frozen=True)
class HoldRequest:
    entry: rules.Entry
    claim: rules.Claim
    type_id: str
    provider_id: str
    starts_at: datetime
    phone: str  # E.164 (rules.normalize_phone)
    address: str  # the client's address (the abuse limit's key, kept only as a digest)


@dataclass(frozen=True)
class Held:
    verification_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Limited:
    retry_after: int  # seconds
    by: Literal["phone", "address"]


async def _over_limit(uow: UnitOfWork, kind: Literal["phone", "address"], value: str, now: datetime) -> Limited | None:
    key = rules.limit_key(link_keys()[0], kind, value)
    await rows.lock_limit(uow.conn, kind, key)
    previous = await rows.limit_hits(uow.conn, kind, key, now - rules.LOOKBACK)
    retry = rules.retry_at(previous, now, rules.PHONE_LIMITS if kind == "phone" else rules.ADDRESS_LIMITS)
    return None if retry is None else Limited(max(1, int((retry - now).total_seconds()) + 1), kind)


async def _count(uow: UnitOfWork, kind: str, value: str, now: datetime) -> None:
    key = rules.limit_key(link_keys()[0], kind, value)
    await rows.add_hit(uow.conn, kind, key, now, now - rules.LOOKBACK)


async def hold_and_send_code(uow: UnitOfWork, request: HoldRequest, now: datetime) -> Held | Limited | booking.Result:
    """Hold the time and send a code to the number (the same answer whether the number is known or
    not: no patient is looked up here), within the limits per address and per number."""
    for kind, value in (("address", request.address), ("phone", request.phone)):
        limited = await _over_limit(uow, kind, value, now)  # type: ignore[arg-type]
        if limited is not None:
            return limited
    verification_id = "bk-" + secrets.token_urlsafe(16)
    held = await booking.book(
        uow,
        booking.BookCommand(
            request_id=f"web:{verification_id}",
            patient_id=f"web-hold-{verification_id}",  # nobody's until the code is right
            clinic_id=request.entry.clinic_id,
            provider_id=request.provider_id,
            appointment_type=request.type_id,
            starts_at=request.starts_at,
            patient_is_new=request.claim == "new",
        ),
        hold=True,
        source="web",
        now=now,
    )
    if held.reason is not None or held.appointment is None:
        return held
    expires_at = held.appointment.hold_expires_at
    assert expires_at is not None
    code, key = rules.new_code(), link_keys()[0]
    await rows.insert_verification(
        uow.conn,
        rows.Verification(
            verification_id=verification_id,
            clinic_id=request.entry.clinic_id,
            link_id=request.entry.link_id,
            appointment_id=held.appointment.appointment_id,
            claim=request.claim,
            phone_digest=rules.digest(key, "booking-phone", verification_id, request.phone),
            code_digest=rules.code_digest(key, verification_id, code),
            attempts=0,
            status="pending",
            expires_at=expires_at,
        ),
    )
    await _count(uow, "address", request.address, now)
    await _count(uow, "phone", request.phone, now)
    sealed = KEYRING.seal(
        BOOKING_CODES_RECIPIENT,
        json.dumps({"phone": request.phone, "code": code}),
        booking_code_aad(request.entry.clinic_id, verification_id),
    )
    await uow.emit(
        BookingCodeRequested(
            verification_id=verification_id, clinic_id=request.entry.clinic_id, expires_at=expires_at, sealed=sealed
        )
    )
    return Held(verification_id, expires_at)


# --- step 2: the code ----------------------------------------------------------------------------

Answer = Literal[
    "booked",
    "already_booked",
    "waiting",  # no code typed yet, and no word that it could not be texted
    "wrong",
    "locked",
    "expired",
    "undelivered",
    "closed",
    "not_found",
    "no_record",
    "type",
]
_OVER: dict[str, Answer] = {"expired": "expired", "locked": "locked", "undelivered": "undelivered"}  # else closed


@dataclass(frozen=True)
class CodeAnswer:
    answer: Answer
    appointment: Appointment | None = None
    attempts_left: int = 0
    clinic_id: str = ""
    expires_at: datetime | None = None  # a wrong code: until when the hold lasts


async def confirm_code(
    uow: UnitOfWork, verification_id: str, code: str, phone: str, name: str, now: datetime
) -> CodeAnswer:
    """Judge the code (and that it is typed for the number it went to); a right one finds or registers
    the patient, gives them the hold and confirms it through the lifecycle."""
    v = await rows.lock_verification(uow.conn, verification_id)
    if v is None:
        return CodeAnswer("not_found")
    keys = link_keys()
    phone_ok = any(rules.digest(k, "booking-phone", v.verification_id, phone) == v.phone_digest for k in keys)
    matches = phone_ok and rules.code_matches(keys, v.verification_id, code, v.code_digest)
    verdict = rules.judge(rules.CodeState(v.status, v.attempts, v.expires_at), matches, now)
    if verdict.outcome == "closed":
        if v.status == "confirmed":
            return CodeAnswer(
                "already_booked", await repository.get_appointment(uow.conn, v.appointment_id), 0, v.clinic_id
            )
        return CodeAnswer(_OVER.get(v.status, "closed"), clinic_id=v.clinic_id)
    await rows.settle_verification(uow.conn, v.verification_id, verdict.status, verdict.attempts, now)
    if verdict.outcome == "wrong":
        return CodeAnswer("wrong", attempts_left=verdict.attempts_left, clinic_id=v.clinic_id, expires_at=v.expires_at)
    if verdict.outcome in ("locked", "expired"):
        await _release(uow, v, verdict.status, now)
        return CodeAnswer(verdict.outcome, clinic_id=v.clinic_id)
    return await _book_for_patient(uow, v, phone, name, now)


async def _release(uow: UnitOfWork, v: rows.Verification, status: rules.Status, now: datetime) -> None:
    """The attempt is over without a booking: its hold is released the ordinary way."""
    await lifecycle.change(uow, v.appointment_id, "cancel", now=now, by="patient")
    await rows.settle_verification(uow.conn, v.verification_id, status, v.attempts, now)


async def _book_for_patient(uow: UnitOfWork, v: rows.Verification, phone: str, name: str, now: datetime) -> CodeAnswer:
    conn = uow.conn
    if v.link_id is not None:
        link = await rows.get_link(conn, v.link_id, lock=True)
        if link is None or link.used_at is not None:  # another attempt from the same link booked first
            await _release(uow, v, "released", now)
            return CodeAnswer("closed", clinic_id=v.clinic_id)
    patient_id = await _patient(conn, v, phone, name)
    hold = await repository.get_appointment(conn, v.appointment_id)
    clinic = await clinic_of(uow, v.clinic_id)
    kind = booking_rules.find_type(clinic, hold.appointment_type) if clinic and hold else None
    if patient_id is None or hold is None:
        await _release(uow, v, "released", now)
        return CodeAnswer("no_record", clinic_id=v.clinic_id)
    if kind is not None and not rules.type_fits(
        kind.patients, await repository.patient_is_new(conn, v.clinic_id, patient_id)
    ):
        await _release(uow, v, "released", now)
        return CodeAnswer("type", clinic_id=v.clinic_id)
    await rows.bind_hold(conn, v.appointment_id, patient_id)
    confirmed = await lifecycle.change(uow, v.appointment_id, "confirm", now=now, by="patient")
    if confirmed.reason is not None:  # the hold ran out meanwhile: the slot was released
        await rows.settle_verification(conn, v.verification_id, "expired", v.attempts, now)
        return CodeAnswer("expired", clinic_id=v.clinic_id)
    await rows.settle_verification(conn, v.verification_id, "confirmed", v.attempts, now, patient_id)
    if v.link_id is not None:
        await rows.use_link(conn, v.link_id, v.appointment_id, now)
    await _hand_over_number(uow, v, patient_id, phone, now)
    return CodeAnswer("booked", confirmed.appointment, clinic_id=v.clinic_id)


async def _hand_over_number(uow: UnitOfWork, v: rows.Verification, patient_id: str, phone: str, now: datetime) -> None:
    """The number the code reached is the patient's: followup texts their reminders and follow-ups to
    it. Sealed for followup as the code was, bound to this attempt and this patient."""
    aad = booking_contact_aad(v.clinic_id, v.verification_id, patient_id)
    links = await patients.patient_links(uow.conn, patient_id)
    await uow.emit(
        BookingContactVerified(
            verification_id=v.verification_id,
            clinic_id=v.clinic_id,
            patient_id=patient_id,
            appointment_id=v.appointment_id,
            registered_by=links.registered,
            verified_at=now,
            sealed=KEYRING.seal(BOOKING_CODES_RECIPIENT, json.dumps({"phone": phone}), aad),
        )
    )


# --- the code could not be texted ----------------------------------------------------------------


async def code_failed(
    uow: UnitOfWork, clinic_id: str, verification_id: str, reason: CodeFailure, now: datetime
) -> bool:
    """followup could not text the code: the attempt is over and its hold released at once (not left
    to expire), so the person can try again with a corrected number, for the same time too, and nobody
    else waits on a time that can no longer be confirmed. False: the attempt was over already (or was
    confirmed: a late report about a code that did arrive changes nothing)."""
    v = await rows.lock_verification(uow.conn, verification_id)
    if v is None or v.clinic_id != clinic_id or v.status != "pending":
        return False
    await rows.mark_code_failed(uow.conn, v.verification_id, reason)
    await _release(uow, v, "undelivered", now)
    BOOKING_CODE_FAILURES.labels(v.clinic_id, reason).inc()
    return True


async def code_status(conn: Connection, verification_id: str, now: datetime) -> CodeAnswer:
    """Where an attempt stands, for a person still waiting for their code (changes nothing)."""
    v = await rows.get_verification(conn, verification_id)
    if v is None:
        return CodeAnswer("not_found")
    if v.status == "confirmed":
        return CodeAnswer("already_booked", await repository.get_appointment(conn, v.appointment_id), 0, v.clinic_id)
    if v.status == "pending":
        if now >= v.expires_at:
            return CodeAnswer("expired", clinic_id=v.clinic_id)
        left = rules.MAX_ATTEMPTS - v.attempts
        return CodeAnswer("waiting", attempts_left=left, clinic_id=v.clinic_id, expires_at=v.expires_at)
    return CodeAnswer(_OVER.get(v.status, "closed"), clinic_id=v.clinic_id)


async def _patient(conn: Connection, v: rows.Verification, phone: str, name: str) -> str | None:
    """The patient on file with this number and name (one of this clinic's first), a new record for a
    new patient, or None: an existing patient whose record this number and name do not find."""
    await patients.lock_patient(conn, "phone:" + rules.digest(link_keys()[0], "booking-phone", phone))
    matching = [
        (pid, linked)
        for pid, on_file, linked in await rows.patients_with(conn, v.clinic_id, phone)
        if rules.same_name(on_file, name)
    ]
    linked = [pid for pid, is_linked in matching if is_linked]
    found = linked if linked else [pid for pid, _ in matching]
    if len(found) == 1:
        return found[0]
    if v.claim == "existing" or found:  # not found, or several records alike: staff sort it out
        return None
    patient_id = "web-" + secrets.token_hex(10)
    await patients.upsert_patient(conn, patient_id, name, phone, None)
    await patients.link_patient(conn, patient_id, [v.clinic_id])
    return patient_id
