"""HL7 v2 inbound: SIU^S12/S13/S14/S15/S17/S26 and ADT^A03/A13, parsed with python-hl7, mapped to commands.

Only what the scheduler needs is read: MSH (sender, control id, type), SCH (placer/filler ids,
timing, filler status), AIS (service = appointment type, start, duration), AIP/AIG (provider),
PID-3 (patient identifier), PV1-7/19/45 (attending, visit number, discharge time), TQ1 (timing).
Timestamps without an offset are the clinic's local time. HL7's explicit null `""` reads as empty.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from zoneinfo import ZoneInfo

import hl7  # type: ignore[import-untyped]

SUPPORTED = {
    ("SIU", "S12"): "book",
    ("SIU", "S13"): "reschedule",
    ("SIU", "S14"): "modify",
    ("SIU", "S15"): "cancel",
    ("SIU", "S17"): "cancel",  # a deletion: what some EHRs send for an appointment entered in error
    ("SIU", "S26"): "no_show",
    ("ADT", "A03"): "complete",
    ("ADT", "A13"): "cancel_discharge",
}
# An ADT feed carries every event of the hospital's patients: the others (A01 admit, A04 register, A08
# update, A11 cancel admit, ...) change nothing the scheduler keeps, and are answered AA ("ignore").
FEEDS = {"ADT"}
# MSH-12 versions read (the segments and fields used are the same from 2.3 on).
VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2", "2.9")
PROCESSING_IDS = {"P": "production", "T": "training", "D": "debugging"}  # HL7 table 0103
# SCH-25 filler statuses (HL7 table 0278, as vendors spell them, letters only) that make an S13/S14 a
# cancel or a no-show: read as "nothing we track changed", the appointment stayed booked and reminded.
_STATUS_ACTIONS = {
    "CANCELLED": "cancel",
    "CANCELED": "cancel",
    "DELETED": "cancel",
    "DC": "cancel",
    "NOSHOW": "no_show",
}
_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$", re.ASCII)
# What an appointment or a discharge can be: a year in YEARS, a duration up to MAX_DURATION. Outside
# them a message is refused (AR) naming the field, rather than failing somewhere further on.
YEARS = (1900, 2199)
MAX_DURATION = timedelta(hours=24)
MAX_KEY_CHARS = 199
MAX_IDS = 10  # PID-3 repetitions read
_ID = re.compile(r"[^A-Za-z0-9._:@-]")


class ErrorCode(IntEnum):
    """HL7 table 0357, the message error condition codes an ACK's ERR segment carries."""

    ACCEPTED = 0
    SEGMENT_SEQUENCE = 100  # out of order, or a required segment missing
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    RECORD_LOCKED = 206
    INTERNAL = 207


class Hl7Error(ValueError):
    """The message cannot be understood (answered AR): why, as HL7 codes it, and where ("SCH-11.4")."""

    def __init__(self, reason: str, code: ErrorCode = ErrorCode.DATA_TYPE, location: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.location = location


@dataclass(frozen=True)
class Hl7Message:
    sending_application: str
    sending_facility: str
    control_id: str
    message_type: str  # e.g. "SIU^S12"
    action: str  # book, reschedule, modify, cancel, no_show, complete, cancel_discharge, ignore
    patient_id: str | None
    parsed: hl7.Message
    digest: str  # what the message says, to tell a resend from another message reusing its control id
    external_id: str | None = None  # the source's appointment id (filler id, else placer id)
    provider_id: str | None = None
    appointment_type: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    filler_status: str | None = None
    visit_number: str | None = None  # ADT^A03/A13 only, as discharged_at
    discharged_at: datetime | None = None


def _bad(field: str, reason: str) -> Hl7Error:
    """A field's value is not what its data type allows (`field` begins with where: "SCH-11.4 start")."""
    return Hl7Error(reason, ErrorCode.DATA_TYPE, field.split()[0])


def _clean_id(value: str) -> str | None:
    value = _ID.sub("-", value.strip())[:128]
    return value or None


def _quote(value: str) -> str:
    return repr(value) if len(value) <= 32 else f"{value[:32]!r}..."


def parse_timestamp(value: str, zone: ZoneInfo, field: str = "timestamp") -> datetime | None:
    """HL7 DTM (YYYYMMDD[HH[MM[SS[.S]]]][+/-ZZZZ]); no offset means clinic-local time.

    Hl7Error naming `field` for anything that is not a real moment: month 13, 30 February, hour 24,
    an offset beyond -12:00..+14:00, a year outside YEARS (year 0, or a 9999 "open end")."""
    value = value.strip()
    if not value:
        return None
    match = _TS.match(value)
    if not match:
        raise _bad(field, f"{field} {_quote(value)} is not an HL7 timestamp (YYYYMMDD[HHMM[SS]][+/-ZZZZ])")
    y, mo, d, h, mi, s = (int(g or 0) for g in match.groups()[:6])
    offset = match.group(7)
    if not YEARS[0] <= y <= YEARS[1]:
        raise _bad(field, f"{field} {_quote(value)}: year {y} is outside {YEARS[0]}-{YEARS[1]}")
    try:
        naive = datetime(y, mo, d, h, mi, s)
    except ValueError as exc:  # month 13, day 30 of February, hour 24, minute 60
        raise _bad(field, f"{field} {_quote(value)} is not a real date and time: {exc}") from None
    if not offset:
        return naive.replace(tzinfo=zone)
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    delta = timedelta(hours=hours, minutes=minutes) * (1 if offset[0] == "+" else -1)
    if minutes >= 60 or not timedelta(hours=-12) <= delta <= timedelta(hours=14):
        raise _bad(field, f"{field} {_quote(value)}: offset {offset} is not a UTC offset (-1200 to +1400)")
    return naive.replace(tzinfo=timezone(delta))


def _get(message: hl7.Message, path: str) -> str:
    """The field's text; "" for an absent one and for HL7's null `""` (the sender says: no value; read
    as a value it became an appointment id or a patient id `--`, shared by every such message)."""
    try:
        value = str(message[path]).strip()
    except (KeyError, IndexError):
        return ""
    return "" if value == '""' else value


def _has(message: hl7.Message, segment: str) -> bool:
    try:
        message.segment(segment)
    except KeyError:
        return False
    return True


def _duration(amount: str, unit: str, field: str) -> timedelta | None:
    """A duration (amount and unit, default minutes) of more than 0 and at most MAX_DURATION."""
    if not amount.strip():
        return None
    try:
        number = float(amount)
    except ValueError:
        raise _bad(field, f"{field} {_quote(amount)} is not a number") from None
    unit = unit.strip().lower()
    if unit in ("", "min", "m", "minutes", "minute"):
        seconds = number * 60
    elif unit in ("h", "hr", "hour", "hours"):
        seconds = number * 3600
    elif unit in ("s", "sec", "seconds"):
        seconds = number
    else:
        raise _bad(field, f"{field}: unknown duration unit {_quote(unit)}")
    # also refuses NaN and infinities, and what rounds to no time at all (1E-10 minutes)
    if not 0 < seconds <= MAX_DURATION.total_seconds() or timedelta(seconds=seconds) <= timedelta(0):
        raise _bad(
            field, f"{field} {_quote(amount)} {unit or 'min'}: a duration must be more than 0 and at most 24 hours"
        )
    return timedelta(seconds=seconds)


def _timing(start: datetime | None, end: datetime | None, field: str) -> None:
    """An appointment ends after it starts, within MAX_DURATION."""
    if start is not None and end is not None and not timedelta(0) < end - start <= MAX_DURATION:
        raise _bad(field, f"{field}: the end must be after the start and at most 24 hours later")


def decode(body: bytes) -> tuple[str, str]:
    """(text, codec) of a message's bytes: in the character set MSH-18 names (HL7 table 0211: 8859/1
    and the other ISO 8859 parts, UNICODE UTF-8, ASCII), else UTF-8; bytes that are not valid in it
    (a sender declaring UTF-8 but writing Latin-1, as older systems do) are read as Latin-1, which
    reads any byte, rather than as replacement characters. The ACK goes back in the same codec."""
    bom = body.startswith(b"\xef\xbb\xbf")  # UTF-8's byte-order mark says more than MSH-18
    declared = "utf-8" if bom else _CHARSETS.get(_msh_18(body).upper(), "utf-8")
    for codec in dict.fromkeys((declared, "utf-8", "iso-8859-1")):
        try:
            return body.removeprefix(b"\xef\xbb\xbf" if bom else b"").decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


# HL7 table 0211 -> the IANA name (the HTTP charset of the ACK), which Python's codecs know too.
_CHARSETS = {
    "ASCII": "us-ascii",
    "UNICODE UTF-8": "utf-8",
    **{f"8859/{part}": f"iso-8859-{part}" for part in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
}


def _msh_18(body: bytes) -> str:
    """MSH-18's first repetition, read from the bytes (MSH is ASCII whatever the character set)."""
    start = body.find(b"MSH")
    if start < 0:
        return ""
    header = re.split(rb"[\r\n\x1c]", body[start:], maxsplit=1)[0].decode("latin-1")
    if len(header) < 4:
        return ""
    fields = header.split(header[3])  # MSH-1, the field separator, follows "MSH"
    return fields[17].split("~")[0].strip() if len(fields) > 17 else ""


def parse(text: str, zone: ZoneInfo, processing_id: str = "P") -> Hl7Message:
    """Parse one ER7-encoded message (segments separated by CR; LF and CRLF are accepted too) meant for
    a receiver in `processing_id`'s mode (MSH-11: a training message never books a real appointment).

    One message only: a batch (FHS/BHS) or several messages in one body are refused whole, since
    only one ACK goes back and a message after the first would be acknowledged without being read."""
    text = normalized(text)
    if text.startswith(("FHS", "BHS")):
        raise Hl7Error("a batch (FHS/BHS) is not taken: send one message per request", ErrorCode.SEGMENT_SEQUENCE)
    if not text.startswith("MSH"):
        raise Hl7Error("the message does not start with an MSH segment", ErrorCode.SEGMENT_SEQUENCE)
    headers = sum(1 for segment in text.split("\r") if segment.startswith("MSH"))
    if headers > 1:
        raise Hl7Error(
            f"{headers} messages (MSH segments) in one request: send one message per request",
            ErrorCode.SEGMENT_SEQUENCE,
        )
    if "\x00" in text:  # PostgreSQL text cannot hold it, and no HL7 field may contain it
        raise Hl7Error(f"the message contains a NUL character (at character {text.index(chr(0))})")
    try:
        message = hl7.parse(text)
    except Exception as exc:  # noqa: BLE001 - python-hl7 raises assorted errors on bad input
        raise Hl7Error(f"unparseable HL7: {exc}") from None
    header = _header(message, _digest(text, message), processing_id)
    if header.action == "ignore":
        return header
    if header.action in ("complete", "cancel_discharge"):
        return _discharge(message, header, zone)
    return _schedule(message, header, zone)


def _digest(text: str, message: hl7.Message) -> str:
    """SHA-256 of the message type and the segments after MSH: an engine that resends may stamp MSH-7
    (and its own fields) anew, but what the message says stays the same."""
    body = [_get(message, "MSH.F9.R1.C1"), _get(message, "MSH.F9.R1.C2"), *text.split("\r")[1:]]
    return hashlib.sha256("\r".join(body).encode()).hexdigest()


def _header(message: hl7.Message, digest: str, processing_id: str) -> Hl7Message:
    """What MSH (and PID) say: who sent it, its control id, its type and our action for it (the
    rest is filled in by _discharge or _schedule)."""
    kind, trigger = _get(message, "MSH.F9.R1.C1"), _get(message, "MSH.F9.R1.C2")
    facility = _get(message, "MSH.F4.R1.C1") or "unknown"
    control_id = _get(message, "MSH.F10")
    if not control_id:
        raise Hl7Error("MSH-10 (message control id) is empty", ErrorCode.REQUIRED_FIELD_MISSING, "MSH-10")
    # They key the deduplication (an index entry of at most a few kB): HL7's own limit is 199.
    for field, name, value in (("MSH-10", "message control id", control_id), ("MSH-4", "sending facility", facility)):
        if len(value) > MAX_KEY_CHARS:
            raise Hl7Error(
                f"{field} ({name}) is {len(value)} characters long (at most {MAX_KEY_CHARS})", location=field
            )
    _check_mode_and_version(message, processing_id)
    if not kind or not trigger:  # "ADT" alone would be taken as a feed's event, unread
        missing = "MSH-9.1 (message type)" if not kind else "MSH-9.2 (trigger event)"
        raise Hl7Error(f"{missing} is empty", ErrorCode.REQUIRED_FIELD_MISSING, "MSH-9.1" if not kind else "MSH-9.2")
    action = SUPPORTED.get((kind, trigger)) or ("ignore" if kind in FEEDS else None)
    if action is None:
        taken = ", ".join(f"{k}^{t}" for k, t in SUPPORTED)
        code = ErrorCode.UNSUPPORTED_EVENT if kind in {k for k, _ in SUPPORTED} else ErrorCode.UNSUPPORTED_MESSAGE_TYPE
        raise Hl7Error(f"unsupported message type {kind}^{trigger} (taken: {taken})", code, "MSH-9")
    return Hl7Message(
        sending_application=_get(message, "MSH.F3.R1.C1"),
        sending_facility=facility,
        control_id=control_id,
        message_type=f"{kind}^{trigger}",
        action=action,
        patient_id=_patient_id(message) if _has(message, "PID") else None,
        parsed=message,
        digest=digest,
    )


def _check_mode_and_version(message: hl7.Message, processing_id: str) -> None:
    """MSH-11 (processing id: P production, T training, D debugging) must be the receiver's, and MSH-12
    a version read: a training message applied here would book a real patient's appointment."""
    mode = _get(message, "MSH.F11.R1.C1").upper()
    if not mode:
        raise Hl7Error("MSH-11 (processing id) is empty", ErrorCode.REQUIRED_FIELD_MISSING, "MSH-11")
    if mode != processing_id:
        ours = PROCESSING_IDS.get(processing_id, processing_id)
        raise Hl7Error(
            f"MSH-11 processing id {_quote(mode)} is not this receiver's: it takes {processing_id} ({ours}) only",
            ErrorCode.UNSUPPORTED_PROCESSING_ID,
            "MSH-11",
        )
    version = _get(message, "MSH.F12.R1.C1")
    if not version:
        raise Hl7Error("MSH-12 (version id) is empty", ErrorCode.REQUIRED_FIELD_MISSING, "MSH-12")
    if version not in VERSIONS:
        raise Hl7Error(
            f"MSH-12 version {_quote(version)} is not supported (taken: {VERSIONS[0]} to {VERSIONS[-1]})",
            ErrorCode.UNSUPPORTED_VERSION,
            "MSH-12",
        )


def _patient_id(message: hl7.Message) -> str | None:
    """PID-3's medical record number (the repetition whose identifier type, CX-5, is MR), else its
    first identifier: EHRs list several (an enterprise id, a national one) in no fixed order. PID-2,
    where some v2.3 senders put it, when PID-3 is empty."""
    ids = [(_get(message, f"PID.F3.R{n}.C1"), _get(message, f"PID.F3.R{n}.C5")) for n in range(1, MAX_IDS + 1)]
    ids = [(value, kind) for value, kind in ids if value]
    chosen = next((value for value, kind in ids if kind.upper() == "MR"), ids[0][0] if ids else "")
    return _clean_id(chosen or _get(message, "PID.F2.R1.C1"))


def _discharge(message: hl7.Message, header: Hl7Message, zone: ZoneInfo) -> Hl7Message:
    """ADT^A03: the visit (PV1-19), its provider (PV1-7) and when the patient left (PV1-45, else when
    the event occurred, EVN-6, else when it was recorded, EVN-2: a message sent late still says when)."""
    visit = _has(message, "PV1")
    discharged = parse_timestamp(_get(message, "PV1.F45.R1.C1"), zone, "PV1-45 discharge") if visit else None
    if discharged is None and _has(message, "EVN"):
        occurred = parse_timestamp(_get(message, "EVN.F6.R1.C1"), zone, "EVN-6 event occurred")
        discharged = occurred or parse_timestamp(_get(message, "EVN.F2.R1.C1"), zone, "EVN-2 recorded")
    return replace(
        header,
        provider_id=_clean_id(_get(message, "PV1.F7.R1.C1")) if visit else None,
        visit_number=_clean_id(_get(message, "PV1.F19.R1.C1")) if visit else None,
        discharged_at=discharged,
    )


def _schedule(message: hl7.Message, header: Hl7Message, zone: ZoneInfo) -> Hl7Message:
    """SIU: the appointment (SCH-2 filler id, else SCH-1 placer id), its provider, service and time."""
    if not _has(message, "SCH"):
        raise Hl7Error("an SIU message needs an SCH segment", ErrorCode.SEGMENT_SEQUENCE, "SCH")
    filler = _get(message, "SCH.F2.R1.C1")
    placer = _get(message, "SCH.F1.R1.C1")
    start, end = _appointment_timing(message, zone)
    provider = None
    if _has(message, "AIP"):
        provider = _clean_id(_get(message, "AIP.F3.R1.C1"))
    if provider is None and _has(message, "AIG"):
        provider = _clean_id(_get(message, "AIG.F3.R1.C1"))
    appointment_type = None
    if _has(message, "AIS"):
        appointment_type = _clean_id(_get(message, "AIS.F3.R1.C1"))
    status = _get(message, "SCH.F25.R1.C1")
    action = header.action
    if action in ("reschedule", "modify"):  # some EHRs send a cancel or a no-show as an update with a status
        action = _STATUS_ACTIONS.get(re.sub(r"[^A-Z]", "", status.upper()), action)
    return replace(
        header,
        action=action,
        external_id=_clean_id(filler or placer),
        provider_id=provider,
        appointment_type=appointment_type or _clean_id(_get(message, "SCH.F8.R1.C1")),
        starts_at=start,
        ends_at=end,
        filler_status=status or None,
    )


def _time_of(message: hl7.Message, path: str, zone: ZoneInfo, field: str) -> datetime | None:
    """An appointment's start or end: a timestamp down to the hour at least (HL7 allows a date alone,
    which would have booked midnight and reminded the patient of it)."""
    value = _get(message, path)
    moment = parse_timestamp(value, zone, field)
    match = _TS.match(value)
    if moment is not None and match is not None and match.group(4) is None:
        raise _bad(field, f"{field} {_quote(value)} is a date without a time of day")
    return moment


def _appointment_timing(message: hl7.Message, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """SCH-11 (TQ: ^^duration^start^end), else TQ1-7/8, else AIS-4 start + AIS-7/8 duration (or
    SCH-9/10). Hl7Error naming the field for an impossible time or duration."""
    start = _time_of(message, "SCH.F11.R1.C4", zone, "SCH-11.4 start")
    end = _time_of(message, "SCH.F11.R1.C5", zone, "SCH-11.5 end")
    _timing(start, end, "SCH-11")
    if start is None and _has(message, "TQ1"):
        start = _time_of(message, "TQ1.F7.R1.C1", zone, "TQ1-7 start")
        end = _time_of(message, "TQ1.F8.R1.C1", zone, "TQ1-8 end")
        _timing(start, end, "TQ1-7/8")
    if _has(message, "AIS"):
        start = start or _time_of(message, "AIS.F4.R1.C1", zone, "AIS-4 start")
        length = _duration(_get(message, "AIS.F7"), _get(message, "AIS.F8.R1.C1"), "AIS-7 duration")
        if end is None and start is not None and length is not None:
            end = start + length
    if end is None and start is not None:
        length = _duration(_get(message, "SCH.F9"), _get(message, "SCH.F10.R1.C1"), "SCH-9 duration")
        end = start + length if length else None
    return start, end


def normalized(text: str) -> str:
    """Segments separated by CR alone, without MLLP framing, a byte-order mark, NUL padding or blank
    lines (python-hl7 reads a blank line between segments as the end of MSH: "MSH-10 is empty")."""
    for separator in ("\r\n", "\n", "\x0b", "\x1c"):  # MLLP's frame bytes, wherever they are, end a segment
        text = text.replace(separator, "\r")
    segments = text.strip("\r \t\x00\ufeff").split("\r")
    return "\r".join(segment for segment in segments if segment.strip(" \t"))


@dataclass(frozen=True)
class HeaderIds:
    """What MSH says before the message is parsed as a whole: where it is addressed, its control id."""

    receiving_facility: str | None  # MSH-6's first component
    control_id: str | None  # MSH-10


def header_ids(text: str) -> HeaderIds:
    """MSH-6.1 and MSH-10 of a message that may not parse as a whole (None where even MSH does not)."""
    try:
        header = hl7.parse(normalized(text).split("\r", 1)[0])
        return HeaderIds(_get(header, "MSH.F6.R1.C1") or None, _get(header, "MSH.F10") or None)
    except Exception:  # noqa: BLE001 - a header that does not parse names nothing
        return HeaderIds(None, None)
