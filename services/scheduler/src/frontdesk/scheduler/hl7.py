"""HL7 v2 messages from an EHR, applied through the same commands as HTTP and Kafka.

Deduplicated twice: on the sender's message control id (MSH-4 + MSH-10 per clinic: a repeat gets the
same answer, MSA code and text; another message under a used control id is refused) and on the
source's appointment id (SCH-2 filler id, else SCH-1 placer id: a second S12 for the same appointment
books nothing; at another time it moves it, and for a cancelled one it is quarantined, as is an
update that names another provider). An update (S13/S14/S15/S17/S26) for an appointment we do not
know, or an A03 we cannot match to an appointment, is quarantined with its reason and answered AE: it
is never turned into a new booking. A quarantine is announced
(hl7.quarantined: sender, control id, type and reason, not the message) for the staff's worklist.
An ADT^A13 (discharge cancelled) for a visit already completed is quarantined: its completion has
started the follow-ups and the review request. Other ADT events of a feed are answered AA, unused.
Every AE and AR names its HL7 error code (table 0357) and, where there is one, the field.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common.contracts import ClinicConfig, Hl7Quarantined
from frontdesk.common.logging import get_logger
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle
from .adapters import hl7_held as held_store
from .adapters import hl7_messages, hl7v2, repository
from .adapters.clinics import clinic_of
from .adapters.hl7_ack import Answer, ack
from .adapters.hl7v2 import ErrorCode, Hl7Error, Hl7Message
from .domain import booking as booking_rules

log = get_logger(__name__)
UTC_ZONE = ZoneInfo("UTC")
MAX_HELD = 10_000  # messages held per clinic not configured yet, at most (a wildcard sender's typo)


class Hl7Settings(BaseSettings):
    """FRONTDESK_HL7_PROCESSING_ID: the mode this scheduler takes messages for (HL7 table 0103: P
    production, T training, D debugging). A message for another mode (MSH-11) is refused, AR 202."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_HL7_", extra="ignore")

    processing_id: Literal["P", "T", "D"] = "P"


@cache
def settings() -> Hl7Settings:
    return Hl7Settings()


async def receive(uow: UnitOfWork, clinic_id: str, text: str) -> str:
    """Apply one message; return the ACK to send back. A message for a clinic whose configuration has
    not arrived yet is held and applied when it does (hl7_held.py), answered AA with a warning."""
    clinic = await clinic_of(uow, clinic_id)
    if clinic is None:
        await held_store.lock(uow.conn, clinic_id)  # a configuration projected meanwhile is seen now
        clinic = await clinic_of(uow, clinic_id)
    if clinic is None:
        return ack(text, await _hold(uow, clinic_id, text))
    _, answer = await apply(uow, clinic, text)
    return ack(text, answer)


async def _hold(uow: UnitOfWork, clinic_id: str, text: str) -> Answer:
    """Hold a message that can be applied once the clinic's configuration arrives. Only its zone is
    missing (for times without an offset), so what cannot be read in any zone is refused now."""
    try:
        message = hl7v2.parse(text, UTC_ZONE, settings().processing_id)
    except Hl7Error as exc:
        return Answer.refused(exc)
    if message.action == "ignore":
        return _ignored(message)
    if not await held_store.hold(uow.conn, clinic_id, text, MAX_HELD):
        full = f"unknown clinic {clinic_id}: {MAX_HELD} messages are held for it already; not held"
        return Answer("AR", full, ErrorCode.UNKNOWN_KEY)
    log.warning("hl7 message held for a clinic not configured yet", clinic_id=clinic_id)
    held = f"clinic {clinic_id} is not configured yet: the message is held and applied when it is"
    return Answer("AA", held, ErrorCode.ACCEPTED, severity="W")


async def apply(uow: UnitOfWork, clinic: ClinicConfig, text: str, held: bool = False) -> tuple[str | None, Answer]:
    """Apply one message for a configured clinic: (its outcome as recorded, None when it was refused
    before it could be, its answer). A `held` message's sender was answered AA when it was held, so
    what the rules refuse of it now is quarantined for staff instead: nobody else would hear of it."""
    clinic_id = clinic.clinic_id
    try:
        message = hl7v2.parse(text, clinic.zone, settings().processing_id)
    except Hl7Error as exc:
        return None, Answer.refused(exc)
    codes = clinic.scheduling
    message = replace(
        message,
        provider_id=codes.hl7_providers.get(message.provider_id or "", message.provider_id),
        appointment_type=codes.hl7_services.get(message.appointment_type or "", message.appointment_type),
    )
    seen = await hl7_messages.answer_of(uow.conn, clinic_id, message)
    if seen is not None and seen.digest not in (None, message.digest):  # not lost under another's answer
        log.warning("hl7 control id reused", type=message.message_type, control_id=message.control_id)
        used = f"MSH-10 {message.control_id[:40]} was used on {seen.received_at:%Y-%m-%d %H:%M}Z by a different message"
        reason = f"{used}: not applied; send it with a control id of its own"
        return None, Answer("AR", reason, ErrorCode.DUPLICATE_KEY, "MSH-10")
    if seen is not None:  # the same message again: the same answer, nothing applied twice
        return "duplicate", seen.answer
    outcome, answer = await _apply(uow, clinic, message)
    if held and outcome == "rejected":
        reason = f"{answer.reason}; held until the clinic was configured: quarantined for review"
        outcome, answer = "quarantined", replace(answer, code="AE", reason=reason)
    log.info("hl7 message", type=message.message_type, control_id=message.control_id, outcome=outcome, ack=answer.code)
    if outcome == "ignored":  # a hospital's ADT feed, unused: not kept (a resend gets the same AA anyway)
        return outcome, answer
    received_at = await hl7_messages.record(uow.conn, clinic_id, message, outcome, answer, text)
    if outcome == "quarantined":  # staff review it (the console's worklist): who sent what, and why
        await uow.emit(
            Hl7Quarantined(
                clinic_id=clinic_id,
                sending_facility=message.sending_facility,
                control_id=message.control_id,
                message_type=message.message_type,
                reason=answer.reason[:500],
                received_at=received_at,
            )
        )
    return outcome, answer


def _ignored(message: Hl7Message) -> Answer:
    ignored = f"{message.message_type} is taken and not used: the scheduler acts on ADT^A03 and ADT^A13"
    return Answer("AA", ignored, ErrorCode.ACCEPTED)


def _quarantine(reason: str, error: ErrorCode, location: str) -> tuple[str, Answer]:
    return "quarantined", Answer("AE", f"{reason}: quarantined for review", error, location)


async def _apply(uow: UnitOfWork, clinic: ClinicConfig, message: Hl7Message) -> tuple[str, Answer]:
    """(outcome, answer)."""
    clinic_id = clinic.clinic_id
    if message.action == "ignore":
        return "ignored", _ignored(message)
    if message.action == "complete":
        return await _complete(uow, clinic_id, message)
    if message.action == "cancel_discharge":
        return await _cancel_discharge(uow, clinic_id, message)
    if message.external_id is None:
        return "rejected", Answer(
            "AR", "SCH-1/SCH-2 carry no appointment id", ErrorCode.REQUIRED_FIELD_MISSING, "SCH-2"
        )
    existing = await repository.get_by_external_id(uow.conn, clinic_id, message.external_id)
    if existing is None:
        if message.action == "book":
            return await _book(uow, clinic, message)
        return _quarantine(f"unknown appointment {message.external_id}", ErrorCode.UNKNOWN_KEY, "SCH-2")
    appointment_id = existing.appointment_id
    if message.action == "book" and existing.status not in booking_rules.ACTIVE:  # booked again after a cancel
        return _quarantine(f"appointment {message.external_id} is {existing.status}", ErrorCode.DUPLICATE_KEY, "SCH-2")
    if message.action in ("book", "reschedule", "modify"):  # an S12 again is the EHR's word on the time too
        provider = message.provider_id
        if provider is not None and provider != existing.provider_id:  # not "nothing changed": it would be lost
            moved = f"appointment {message.external_id} moved to provider {provider[:64]}"
            return _quarantine(moved, ErrorCode.INTERNAL, "AIP-3")
        if message.starts_at is not None and message.starts_at != existing.starts_at:
            return _outcome(await lifecycle.change(uow, appointment_id, "reschedule", starts_at=message.starts_at))
        if message.action == "book":
            return "duplicate", Answer("AA", f"appointment {message.external_id} is already booked")
        return "applied", Answer("AA")  # nothing we track changed
    if message.action == "cancel":
        return _outcome(await lifecycle.change(uow, appointment_id, "cancel", by="clinic"))
    if message.action == "no_show":
        return _outcome(await lifecycle.change(uow, appointment_id, "no_show"))
    return "rejected", Answer("AR", f"unsupported action {message.action}", ErrorCode.INTERNAL)


async def _book(uow: UnitOfWork, clinic: ClinicConfig, message: Hl7Message) -> tuple[str, Answer]:
    """SIU^S12 for an appointment we do not know yet: booked like any other (never a double booking)."""
    assert message.external_id is not None
    missing = [
        name
        for name, value in (
            ("PID-3 patient id", message.patient_id),
            ("AIP-3/AIG-3 provider", message.provider_id),
            ("AIS-3 service", message.appointment_type),
            ("SCH-11/TQ1/AIS start", message.starts_at),
        )
        if value is None
    ]
    if missing:
        reason = "missing " + ", ".join(missing)
        return "rejected", Answer("AR", reason, ErrorCode.REQUIRED_FIELD_MISSING, missing[0].split("/")[0])
    assert message.patient_id and message.provider_id and message.appointment_type and message.starts_at
    clinic_id = clinic.clinic_id
    configured = booking_rules.find_type(clinic, message.appointment_type) is not None
    result = await booking.book(
        uow,
        booking.BookCommand(
            request_id=f"hl7:{clinic_id}:{message.external_id}",
            patient_id=message.patient_id,
            clinic_id=clinic_id,
            provider_id=message.provider_id,
            appointment_type=message.appointment_type,
            starts_at=message.starts_at,
            ends_at=None if configured else message.ends_at,
            external_id=message.external_id,
        ),
        hold=False,
        source="hl7",
    )
    return _outcome(result)


# Where a refusal of the booking rules points in the message (the others are the application's: 207).
_REFUSALS = {
    "unknown_provider": (ErrorCode.TABLE_VALUE_NOT_FOUND, "AIP-3"),
    "unknown_appointment_type": (ErrorCode.TABLE_VALUE_NOT_FOUND, "AIS-3"),
    "not_found": (ErrorCode.UNKNOWN_KEY, "SCH-2"),
}


def _outcome(result: booking.Result) -> tuple[str, Answer]:
    if result.reason is None:
        return ("applied" if result.changed else "duplicate"), Answer("AA")
    error, location = _REFUSALS.get(result.reason, (ErrorCode.INTERNAL, None))
    return "rejected", Answer("AE", f"{result.reason}: {result.detail}", error, location)


async def _complete(uow: UnitOfWork, clinic_id: str, message: Hl7Message) -> tuple[str, Answer]:
    """ADT^A03: the visit ended. Matched to the patient's appointment around the discharge time."""
    if message.patient_id is None:
        return "rejected", Answer("AR", "PID-3 carries no patient id", ErrorCode.REQUIRED_FIELD_MISSING, "PID-3")
    if message.visit_number is not None and await repository.visit_recorded(uow.conn, clinic_id, message.visit_number):
        return "duplicate", Answer("AA")
    discharged = message.discharged_at or booking.now_utc()
    appointment_id = await repository.open_appointment_near(
        uow.conn, clinic_id, message.patient_id, discharged, before=timedelta(hours=12), after=timedelta(hours=1)
    )
    if appointment_id is None:
        return _quarantine("no open appointment of this patient around the discharge", ErrorCode.UNKNOWN_KEY, "PID-3")
    result = await lifecycle.change(
        uow, appointment_id, "complete", visit_id=message.visit_number, completed_at=message.discharged_at
    )
    return _outcome(result)


async def _cancel_discharge(uow: UnitOfWork, clinic_id: str, message: Hl7Message) -> tuple[str, Answer]:
    """ADT^A13: the discharge was entered in error. Nothing to undo for a visit we never completed; one
    we did has had visit.completed announced (follow-ups and the review request are planned from it),
    which the scheduler cannot take back: staff review it. A later A03 for it changes nothing."""
    visit = message.visit_number
    if visit is None:
        missing = "PV1-19 (visit number) is empty: which visit's discharge is cancelled is unknown"
        return "rejected", Answer("AR", missing, ErrorCode.REQUIRED_FIELD_MISSING, "PV1-19")
    if not await repository.visit_recorded(uow.conn, clinic_id, visit):
        return "ignored", Answer("AA", f"visit {visit} was not completed here: nothing to undo", ErrorCode.ACCEPTED)
    completed = f"the discharge of visit {visit} was cancelled after its completion started the follow-ups"
    return _quarantine(f"{completed} and the review request", ErrorCode.INTERNAL, "PV1-19")
