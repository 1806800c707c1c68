"""HL7 v2 acknowledgments (original mode), built with python-hl7 as interface engines expect them.

MSH: sending and receiving application/facility swapped from the message (ours when it names none),
MSH-9 `ACK^<trigger>^ACK`, a control id of the ACK's own, MSH-11/12 (and MSH-18) echoed. MSA-1 the code,
MSA-2 the message's control id, MSA-3 the reason. An AE or AR carries an ERR segment saying what is
wrong in a machine-readable way: from v2.5 on ERR-2 where (segment^1^field^1^component), ERR-3 the code
of HL7 table 0357, ERR-4 the severity, ERR-8 the reason; to v2.4 senders ERR-1 (where, and the code as
its fourth component). An AA for a message taken but not acted on carries ERR-3 0 with severity I (W
for one held until its clinic is configured).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import hl7  # type: ignore[import-untyped]

from .hl7v2 import ErrorCode, Hl7Error, normalized

_LOCATION = re.compile(r"^([A-Z][A-Z0-9]{2})(?:-(\d+)(?:\.(\d+))?)?")
_NAMES = {
    ErrorCode.ACCEPTED: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL: "Application internal error",
}
MAX_REASON = 200
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


def _before_v2_5(version: str) -> bool:
    """ERR-2..8 came with v2.5; before it (2.4, 2.3, and a 2.2 we refuse), ERR-1 alone."""
    match = _VERSION.match(version)
    return match is not None and (int(match.group(1)), int(match.group(2))) < (2, 5)


@dataclass(frozen=True)
class Answer:
    """What an ACK says: MSA-1 (AA applied, AE error kept for review, AR rejected), the reason (MSA-3,
    ERR-8), the HL7 error code (ERR-3; an AE/AR without one says 207) and where (ERR-2: "SCH-11.4")."""

    code: str
    reason: str = ""
    error: ErrorCode | None = None
    location: str | None = None
    severity: str | None = None  # ERR-4; else I for code 0 and E for the others (W: taken, with a warning)

    @classmethod
    def refused(cls, exc: Hl7Error) -> Answer:
        return cls("AR", str(exc), exc.code, exc.location)


def ack(text: str, answer: Answer, control_id: str | None = None) -> str:
    """The ACK for `text`, in the sender's own separators; from a minimal header when even its MSH does
    not parse (then MSA-2 is `control_id`). Each ACK has its own control id (20 characters: v2.3's limit)."""
    ack_id = f"FD{secrets.token_hex(9)}"
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    try:
        text = normalized(text)
        if not text.startswith("MSH"):  # a batch's header is not one message's: answered as garbage
            raise Hl7Error(text[:3])
        source = hl7.parse(text)
        msh = source.segment("MSH")
        reply = source.create_ack(
            ack_code=answer.code,
            message_id=ack_id,
            application=None if str(msh(5)).strip() else "FRONTDESK",  # None: the message's receiver
            facility=None if str(msh(6)).strip() else "SCHEDULER",
        )
        reply.segment("MSH").assign_field(stamp, 7)  # with its offset (python-hl7 writes UTC without one)
        if len(msh) > 18:
            reply.segment("MSH").assign_field(str(msh(18)), 18)
    except Exception:  # noqa: BLE001 - unparseable input still gets an answer
        reply = hl7.parse(f"MSH|^~\\&|FRONTDESK|SCHEDULER|||{stamp}||ACK|{ack_id}|P|2.5.1")
        reply = hl7.parse(f"{reply.segment('MSH')}\rMSA|{answer.code}|{reply.escape(control_id or '')}")
    reason = reply.escape(answer.reason[:MAX_REASON])
    msa = str(reply.segment("MSA"))
    segments = [str(reply.segment("MSH")), f"{msa}{reply.separators[1]}{reason}" if reason else msa]
    error = answer.error if answer.error is not None or answer.code == "AA" else ErrorCode.INTERNAL
    if error is not None:
        severity = answer.severity or ("I" if error == ErrorCode.ACCEPTED else "E")
        segments.append(str(_err(reply, error, answer.location, reason, severity)))
    return "".join(f"{segment}\r" for segment in segments)


def _err(reply: hl7.Message, error: ErrorCode, location: str | None, reason: str, severity: str) -> hl7.Segment:
    """The ERR segment, as the ACK's version (MSH-12, the message's) defines it."""
    err = reply.create_segment([reply.create_field(["ERR"])])
    where = _LOCATION.match(location or "")
    segment, field, component = where.groups() if where else ("", None, None)
    if _before_v2_5(str(reply.segment("MSH")(12))):  # ERR-1: segment^sequence^field^code
        for position, value in enumerate((segment, "1" if segment else "", field or ""), start=1):
            err.assign_field(value, 1, 1, position)
        for position, value in enumerate((str(int(error)), _NAMES[error], "HL70357"), start=1):
            err.assign_field(value, 1, 1, 4, position)
        return err
    # ERR-2: segment^sequence^field^repetition^component, as far as the location goes
    erl = [segment, "1", *((field, "1") if field else ()), *((component,) if component else ())]
    for position, value in enumerate(erl if segment else (), start=1):
        err.assign_field(value, 2, 1, position)
    for position, value in enumerate((str(int(error)), _NAMES[error], "HL70357"), start=1):
        err.assign_field(value, 3, 1, position)
    err.assign_field(severity, 4)
    if reason:
        err.assign_field(reason, 8)
    return err
