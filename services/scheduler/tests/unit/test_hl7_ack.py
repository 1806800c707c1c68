"""ACKs as interface engines expect them (ERR with table 0357 codes, MSH swapped and echoed), and what
MSH-9/11/12 decide before a message is read: another processing mode, version or message type."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import hl7  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.scheduler.adapters.hl7_ack import Answer, ack
from frontdesk.scheduler.adapters.hl7v2 import ErrorCode, Hl7Error, parse

NY = ZoneInfo("America/New_York")

# A Cerner-style v2.3 SIU^S12 through a Rhapsody route: HD components in MSH-3..6, MSH-9 of two parts,
# MSH-11 with a processing mode, repeated PID-3, a Z-segment.
CERNER = "\r".join(
    [
        "MSH|^~\\&|CERNER^2.16.840.1.113883.3.1^ISO|SOHO_HOSP|RHAPSODY|north-clinic|20261127083000||SIU^S12|"
        "CRN-7|P^T|2.3|||AL|NE||8859/1",
        "SCH|PL-1|FL-1|||||||30|min|^^30^20261207100000",
        "PID|1||E-1^^^ENT^PI~MRN-9^^^SOHO^MR||ROE^RICHARD",
        "ZSC|1|local^stuff",
        "AIS|1|A|CHECKUP|20261207100000",
        "AIP|1|A|DRLEE",
    ]
)
# An Epic-style v2.5.1 ADT^A13 (cancel discharge) with EVN, PV1-19 visit number, a Z-segment.
A13 = "\r".join(
    [
        "MSH|^~\\&|EPIC|MIDTOWN|FRONTDESK|SCHEDULER|20261207120000-0500||ADT^A13^ADT_A01|EP-13|P|2.5.1",
        "EVN|A13|20261207120000",
        "PID|1||MRN-42^^^EPIC^MR~999-99-9999^^^SSA^SS||DOE^JANE",
        "PV1|1|O|MIDTOWN||||DRLEE^Lee^Ann" + "|" * 12 + "V-5566",
        "ZPV|1|x",
    ]
)


def _segments(answer: str) -> dict[str, list[str]]:
    return {segment[:3]: segment.split("|") for segment in answer.split("\r") if segment}


def test_the_ack_header_swaps_the_parties_and_echoes_trigger_processing_id_version_and_charset() -> None:
    msh = _segments(ack(CERNER, Answer("AA")))["MSH"]
    assert msh[2:6] == ["RHAPSODY", "north-clinic", "CERNER^2.16.840.1.113883.3.1^ISO", "SOHO_HOSP"]
    assert msh[8] == "ACK^S12^ACK" and msh[9].startswith("FD") and msh[9] != "CRN-7"
    assert (msh[10], msh[11], msh[17]) == ("P^T", "2.3", "8859/1")
    assert re.fullmatch(r"\d{14}\+0000", msh[6])
    # A message that names no receiver is answered as the scheduler.
    anonymous = ack(A13.replace("|FRONTDESK|SCHEDULER|", "|||"), Answer("AA"))
    assert _segments(anonymous)["MSH"][2:6] == ["FRONTDESK", "SCHEDULER", "EPIC", "MIDTOWN"]


def test_an_aa_has_no_err_and_an_ae_or_ar_says_code_location_severity_and_reason() -> None:
    assert "ERR" not in _segments(ack(A13, Answer("AA")))
    err = _segments(ack(A13, Answer("AE", "unknown appointment a|b", ErrorCode.UNKNOWN_KEY, "SCH-2")))["ERR"]
    assert err[2:5] == ["SCH^1^2^1", "204^Unknown key identifier^HL70357", "E"]
    assert err[8] == "unknown appointment a\\F\\b"
    component = _segments(ack(A13, Answer("AR", "bad", ErrorCode.DATA_TYPE, "SCH-11.4 start")))["ERR"]
    assert component[2:4] == ["SCH^1^11^1^4", "102^Data type error^HL70357"]
    segment_only = _segments(ack(A13, Answer("AR", "no SCH", ErrorCode.SEGMENT_SEQUENCE, "SCH")))["ERR"]
    assert segment_only[2] == "SCH^1"
    # An AE or AR that names no code says 207; an AA that explains itself is informational.
    assert _segments(ack(A13, Answer("AE", "x")))["ERR"][3].startswith("207^")
    info = _segments(ack(A13, Answer("AA", "taken, not used", ErrorCode.ACCEPTED)))["ERR"]
    assert info[3:5] == ["0^Message accepted^HL70357", "I"]


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4"])
def test_senders_before_v2_5_get_err_1(version: str) -> None:
    text = CERNER.replace("|P^T|2.3|", f"|P|{version}|")
    err = _segments(ack(text, Answer("AR", "bad", ErrorCode.DATA_TYPE, "SCH-11.4")))["ERR"]
    assert err == ["ERR", "SCH^1^11^102&Data type error&HL70357"]
    bangs = text.replace("|", "!").replace("^", "$")  # the sender's separators, subcomponents included
    assert "ERR!SCH$1$11$102&Data type error&HL70357" in ack(bangs, Answer("AR", "bad", ErrorCode.DATA_TYPE, "SCH-11"))


def test_garbage_is_answered_with_a_v2_5_err() -> None:
    answer = _segments(ack("not hl7", Answer("AR", "no MSH", ErrorCode.SEGMENT_SEQUENCE), control_id="C1"))
    assert answer["MSA"][1:3] == ["AR", "C1"] and answer["ERR"][3].startswith("100^")


@pytest.mark.parametrize(
    ("change", "code", "location"),
    [
        (("|P^T|2.3|", "|T|2.3|"), ErrorCode.UNSUPPORTED_PROCESSING_ID, "MSH-11"),  # training
        (("|P^T|2.3|", "|D|2.3|"), ErrorCode.UNSUPPORTED_PROCESSING_ID, "MSH-11"),  # debugging
        (("|P^T|2.3|", "||2.3|"), ErrorCode.REQUIRED_FIELD_MISSING, "MSH-11"),
        (("|P^T|2.3|", "|P|2.2|"), ErrorCode.UNSUPPORTED_VERSION, "MSH-12"),
        (("|P^T|2.3|", "|P|3.0|"), ErrorCode.UNSUPPORTED_VERSION, "MSH-12"),
        (("|P^T|2.3|", "|P||"), ErrorCode.REQUIRED_FIELD_MISSING, "MSH-12"),
        (("SIU^S12", "SIU^S16"), ErrorCode.UNSUPPORTED_EVENT, "MSH-9"),  # a change we do not take
        (("SIU^S12", "ORU^R01"), ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "MSH-9"),
        (("SIU^S12", "ADT"), ErrorCode.REQUIRED_FIELD_MISSING, "MSH-9.2"),  # not a feed's event: unread
        (("SIU^S12", "^S12"), ErrorCode.REQUIRED_FIELD_MISSING, "MSH-9.1"),
        (("|CRN-7|", "||"), ErrorCode.REQUIRED_FIELD_MISSING, "MSH-10"),
        (("|CRN-7|", "|" + "9" * 200 + "|"), ErrorCode.DATA_TYPE, "MSH-10"),
        (("^^30^20261207100000", "^^30^20261307100000"), ErrorCode.DATA_TYPE, "SCH-11.4"),
        (("AIS|1|A|CHECKUP|20261207100000", "AIS|1|A|CHECKUP|20261207100000|||x|min"), ErrorCode.DATA_TYPE, "AIS-7"),
        (("SCH|PL-1|FL-1", "ZZZ|PL-1|FL-1"), ErrorCode.SEGMENT_SEQUENCE, "SCH"),
    ],
)
def test_refusals_carry_their_table_0357_code_and_field(
    change: tuple[str, str], code: ErrorCode, location: str
) -> None:
    with pytest.raises(Hl7Error) as refused:
        parse(CERNER.replace(*change), NY)
    assert (refused.value.code, refused.value.location) == (code, location)


def test_a_receiver_in_training_mode_takes_training_messages_only() -> None:
    training = CERNER.replace("|P^T|2.3|", "|T|2.3|")
    assert parse(training, NY, processing_id="T").external_id == "FL-1"
    with pytest.raises(Hl7Error, match=r"processing id 'P' .* takes T \(training\) only"):
        parse(CERNER, NY, processing_id="T")


def test_a13_is_read_as_a_cancelled_discharge_and_other_adt_events_as_taken_unused() -> None:
    m = parse(A13, NY)
    assert (m.action, m.visit_number, m.patient_id, m.message_type) == (
        "cancel_discharge",
        "V-5566",
        "MRN-42",
        "ADT^A13",
    )
    for trigger in ("A01", "A04", "A08", "A11", "A40"):
        ignored = parse(A13.replace("ADT^A13^ADT_A01", f"ADT^{trigger}^ADT_A01"), NY)
        assert (ignored.action, ignored.message_type) == ("ignore", f"ADT^{trigger}")
    # Still a message with a header we check: a training A08 is refused, not taken.
    with pytest.raises(Hl7Error, match="processing id"):
        parse(A13.replace("ADT^A13", "ADT^A08").replace("|P|2.5.1", "|T|2.5.1"), NY)


@settings(max_examples=200, deadline=None)
@given(
    reason=st.text(max_size=300),
    code=st.sampled_from(list(ErrorCode)),
    location=st.sampled_from([None, "MSH-10", "SCH-11.4", "PV1-19", "SCH", "TQ1-7/8", "timestamp"]),
    version=st.sampled_from(["2.3", "2.4", "2.5.1", "2.8"]),
    separators=st.sampled_from(["|^~\\&", "!$~\\&"]),
)
def test_any_reason_and_location_make_an_ack_that_parses_back_to_them(
    reason: str, code: ErrorCode, location: str | None, version: str, separators: str
) -> None:
    """Whatever the reason says (separators, escapes, CR) and whichever version and separators the
    sender uses, the ACK has three segments and reads back to the control id and the code."""
    text = A13.replace("|P|2.5.1", f"|P|{version}")
    text = text.replace("|", separators[0]).replace("^", separators[1])
    answer = ack(text, Answer("AE", reason, code, location))
    parsed = hl7.parse(answer)
    assert [str(segment[0]) for segment in parsed] == ["MSH", "MSA", "ERR"]
    assert str(parsed.segment("MSA")[2]) == "EP-13"
    assert str(parsed["ERR.F1.R1.C4" if version < "2.5" else "ERR.F3.R1.C1"]) == str(int(code))
