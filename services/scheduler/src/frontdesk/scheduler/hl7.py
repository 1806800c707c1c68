"""HL7 v2 messages from an EHR, applied through the same commands as HTTP and Kafka.

Deduplicated twice: on the sender's message control id (MSH-4 + MSH-10 per clinic: a repeat gets the
same answer, MSA code and text; another message under a used control id is refused) and on the
source's appointment id (SCH-2 filler id, else SCH-1 placer id: a second S12 for the same appointment
books nothing; at another time it moves it, and for a cancelled one it is quarantined, as is an
update that names another provider). An update (S13/S14/S15/S17/S26) for an appointment we do not
know, or an A03 we cannot match to an appointment, is quarantined with its reason and answered AE: it
is never turned into a new booking. A quarantine is announced
(hl7.quarantined: sender, control id, type and reason, not the message) for the staff's worklist.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from frontdesk.common.contracts import ClinicConfig, Hl7Quarantined
from frontdesk.common.logging import get_logger
from frontdesk.common.uow import UnitOfWork

from . import booking, lifecycle
from .adapters import hl7_messages, hl7v2, repository
from .adapters.clinics import clinic_of
from .adapters.hl7v2 import Hl7Error, Hl7Message
from .domain import booking as booking_rules

log = get_logger(__name__)


async def receive(uow: UnitOfWork, clinic_id: str, text: str) -> str:
    """Apply one message; return the ACK to send back."""
    clinic = await clinic_of(uow, clinic_id)
    if clinic is None:
        return hl7v2.ack(text, "AR", f"unknown clinic {clinic_id}")
    try:
        message = hl7v2.parse(text, clinic.zone)
    except Hl7Error as exc:
        return hl7v2.ack(text, "AR", str(exc))
    codes = clinic.scheduling
    message = replace(
        message,
        provider_id=codes.hl7_providers.get(message.provider_id or "", message.provider_id),
        appointment_type=codes.hl7_services.get(message.appointment_type or "", message.appointment_type),
    )
    seen = await hl7_messages.answer_of(uow.conn, clinic_id, message)
    if seen is not None and seen.digest not in (None, message.digest):  # not lost under another's answer
        log.warning("hl7 control id reused", type=message.message_type, control_id=message.control_id)
        return hl7v2.ack(
            text,
            "AR",
            f"MSH-10 {message.control_id[:40]} was used on {seen.received_at:%Y-%m-%d %H:%M}Z by a different"
            " message: not applied; send it with a control id of its own",
        )
    if seen is not None:  # the same message again: the same answer, nothing applied twice
        return hl7v2.ack(text, seen.ack_code, seen.reason or "")
    outcome, code, reason = await _apply(uow, clinic, message)
    received_at = await hl7_messages.record(uow.conn, clinic_id, message, outcome, reason, code, text)
    if outcome == "quarantined":  # staff review it (the console's worklist): who sent what, and why
        await uow.emit(
            Hl7Quarantined(
                clinic_id=clinic_id,
                sending_facility=message.sending_facility,
                control_id=message.control_id,
                message_type=message.message_type,
                reason=(reason or "")[:500],
                received_at=received_at,
            )
        )
    log.info("hl7 message", type=message.message_type, control_id=message.control_id, outcome=outcome, ack=code)
    return hl7v2.ack(text, code, reason or "")


async def _apply(uow: UnitOfWork, clinic: ClinicConfig, message: Hl7Message) -> tuple[str, str, str | None]:
    """(outcome, ACK code, reason)."""
    clinic_id = clinic.clinic_id
    if message.action == "complete":
        return await _complete(uow, clinic_id, message)
    if message.external_id is None:
        return "rejected", "AR", "SCH-1/SCH-2 carry no appointment id"
    existing = await repository.get_by_external_id(uow.conn, clinic_id, message.external_id)
    if existing is None:
        if message.action == "book":
            return await _book(uow, clinic, message)
        return "quarantined", "AE", f"unknown appointment {message.external_id}: quarantined for review"
    appointment_id = existing.appointment_id
    if message.action == "book" and existing.status not in booking_rules.ACTIVE:  # booked again after a cancel
        return "quarantined", "AE", f"appointment {message.external_id} is {existing.status}: quarantined for review"
    if message.action in ("book", "reschedule", "modify"):  # an S12 again is the EHR's word on the time too
        provider = message.provider_id
        if provider is not None and provider != existing.provider_id:  # not "nothing changed": it would be lost
            moved = f"appointment {message.external_id} moved to provider {provider[:64]}"
            return "quarantined", "AE", f"{moved}: quarantined for review"
        if message.starts_at is not None and message.starts_at != existing.starts_at:
            return _outcome(await lifecycle.change(uow, appointment_id, "reschedule", starts_at=message.starts_at))
        if message.action == "book":
            return "duplicate", "AA", f"appointment {message.external_id} is already booked"
        return "applied", "AA", None  # nothing we track changed
    if message.action == "cancel":
        return _outcome(await lifecycle.change(uow, appointment_id, "cancel", by="clinic"))
    if message.action == "no_show":
        return _outcome(await lifecycle.change(uow, appointment_id, "no_show"))
    return "rejected", "AR", f"unsupported action {message.action}"


async def _book(uow: UnitOfWork, clinic: ClinicConfig, message: Hl7Message) -> tuple[str, str, str | None]:
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
        return "rejected", "AR", "missing " + ", ".join(missing)
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


def _outcome(result: booking.Result) -> tuple[str, str, str | None]:
    if result.reason is None:
        return ("applied" if result.changed else "duplicate"), "AA", None
    return "rejected", "AE", f"{result.reason}: {result.detail}"


async def _complete(uow: UnitOfWork, clinic_id: str, message: Hl7Message) -> tuple[str, str, str | None]:
    """ADT^A03: the visit ended. Matched to the patient's appointment around the discharge time."""
    if message.patient_id is None:
        return "rejected", "AR", "PID-3 carries no patient id"
    if message.visit_number is not None and await repository.visit_recorded(uow.conn, clinic_id, message.visit_number):
        return "duplicate", "AA", None
    discharged = message.discharged_at or booking.now_utc()
    appointment_id = await repository.open_appointment_near(
        uow.conn, clinic_id, message.patient_id, discharged, before=timedelta(hours=12), after=timedelta(hours=1)
    )
    if appointment_id is None:
        return "quarantined", "AE", "no open appointment of this patient around the discharge: quarantined"
    result = await lifecycle.change(
        uow, appointment_id, "complete", visit_id=message.visit_number, completed_at=message.discharged_at
    )
    return _outcome(result)
