"""HL7 v2 parsing on realistic SIU and ADT messages, and the ACKs we answer with."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.scheduler.adapters.hl7v2 import Hl7Error, ack, parse, parse_timestamp

NY = ZoneInfo("America/New_York")

# An Epic-style SIU^S12 (v2.5.1): SCH-11 timing, AIS service and start, AIP provider, AIL location.
S12 = "\r".join(
    [
        "MSH|^~\\&|EPIC|MIDTOWN|FRONTDESK|SCHEDULER|20261127083000||SIU^S12^SIU_S12|MSG00001|P|2.5.1",
        # SCH-7 reason, SCH-8 type, SCH-9/10 duration, SCH-11 timing, SCH-25 filler status.
        "SCH|PL-7781^EPIC|FL-99120^EPIC|||||ROUTINE^Routine visit|CHECKUP^Checkup|30|min|"
        "^^30^20261207100000^20261207103000" + "|" * 14 + "BOOKED",
        "PID|1||MRN-42^^^EPIC^MR||DOE^JANE^Q||19800101|F|||1 MAIN ST^^NEW YORK^NY^10001||^PRN^PH^^1^212^5550100",
        "PV1|1|O|MIDTOWN^^^MIDTOWN||||DRLEE^Lee^Ann",
        "RGS|1|A",
        "AIS|1|A|CHECKUP^Checkup|20261207100000|||30|min",
        "AIG|1|A|DRLEE^Lee^Ann",
        "AIL|1|A|MIDTOWN-2^^^MIDTOWN",
        "AIP|1|A|DRLEE^Lee^Ann|PROVIDER",
    ]
)


def test_s12_maps_ids_patient_provider_type_and_timing_in_the_clinic_zone() -> None:
    m = parse(S12, NY)
    assert (m.message_type, m.action, m.control_id, m.sending_facility) == ("SIU^S12", "book", "MSG00001", "MIDTOWN")
    assert m.external_id == "FL-99120"  # the filler's id wins over the placer's
    assert (m.patient_id, m.provider_id, m.appointment_type) == ("MRN-42", "DRLEE", "CHECKUP")
    assert m.starts_at == datetime(2026, 12, 7, 10, tzinfo=NY)
    assert m.ends_at == datetime(2026, 12, 7, 10, 30, tzinfo=NY)
    assert m.filler_status == "BOOKED"


def test_line_feeds_and_mllp_framing_are_tolerated() -> None:
    framed = "\x0b" + S12.replace("\r", "\n") + "\x1c\r"
    assert parse(framed, NY).external_id == "FL-99120"


def test_timing_from_ais_when_sch_11_is_empty_with_an_explicit_offset() -> None:
    text = "\r".join(
        [
            "MSH|^~\\&|CERNER|SOHO|FD|FD|20261127083000+0000||SIU^S13|MSG2|P|2.5",
            "SCH|PL-1|||||||||||||||||||||||||BOOKED",
            "PID|1||P-9",
            "AIS|1|U|PHYSIO|20261201143000+0000|||45|min",
            "AIP|1|U|DR-ACH",
        ]
    )
    m = parse(text, NY)
    assert m.action == "reschedule" and m.external_id == "PL-1"  # no filler id: the placer's
    assert m.starts_at == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert m.ends_at is not None and m.ends_at - m.starts_at == timedelta(minutes=45)


def test_adt_a03_carries_the_visit_number_and_discharge_time() -> None:
    text = "\r".join(
        [
            "MSH|^~\\&|EPIC|MIDTOWN|FD|FD|20261207113000||ADT^A03^ADT_A03|MSG3|P|2.5.1",
            "EVN|A03|20261207113000",
            "PID|1||MRN-42^^^EPIC^MR||DOE^JANE",
            # PV1-7 attending, PV1-19 visit number, PV1-45 discharge date/time.
            "PV1|1|O|MIDTOWN||||DRLEE^Lee^Ann" + "|" * 12 + "V-5566" + "|" * 26 + "20261207112500",
        ]
    )
    m = parse(text, NY)
    assert (m.action, m.patient_id, m.provider_id, m.visit_number) == ("complete", "MRN-42", "DRLEE", "V-5566")
    assert m.discharged_at == datetime(2026, 12, 7, 11, 25, tzinfo=NY)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("PID|1||X", "MSH"),
        ("MSH|^~\\&|A|B|C|D|20261127||ORU^R01|1|P|2.5", "unsupported message type ORU^R01"),
        ("MSH|^~\\&|A|B|C|D|20261127||SIU^S12||P|2.5", "MSH-10"),
        ("MSH|^~\\&|A|B|C|D|20261127||SIU^S15|9|P|2.5", "SCH"),
    ],
)
def test_what_cannot_be_understood_is_refused_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(Hl7Error, match=re.escape(problem)):
        parse(text, NY)


def test_identifiers_are_made_safe_ids() -> None:
    text = S12.replace("MRN-42", "MRN 42/7")
    assert parse(text, NY).patient_id == "MRN-42-7"


def test_timestamps() -> None:
    assert parse_timestamp("202612071000", NY) == datetime(2026, 12, 7, 10, tzinfo=NY)
    assert parse_timestamp("20261207", NY) == datetime(2026, 12, 7, tzinfo=NY)
    assert parse_timestamp("20261207100000.123-0500", NY) == datetime(2026, 12, 7, 15, tzinfo=UTC)
    assert parse_timestamp("", NY) is None
    with pytest.raises(Hl7Error):
        parse_timestamp("next tuesday", NY)


def test_acks_answer_the_control_id_with_the_code_and_reason() -> None:
    answer = ack(S12, "AE", "slot_taken: overlaps 10:00|10:30")
    segments = answer.split("\r")
    assert segments[0].startswith("MSH|^~\\&|FRONTDESK|SCHEDULER|EPIC|MIDTOWN|")
    assert "|ACK^S12^ACK|" in segments[0]
    assert segments[1] == "MSA|AE|MSG00001|slot_taken: overlaps 10:00/10:30"
    assert ack(S12, "AA").split("\r")[1] == "MSA|AA|MSG00001"
    # Garbage still gets an answer.
    assert "MSA|AR|" in ack("not hl7 at all", "AR", "the message does not start with an MSH segment")
