"""HL7 v2 parsing on realistic SIU and ADT messages, and the ACKs we answer with."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.scheduler.adapters.hl7_ack import Answer
from frontdesk.scheduler.adapters.hl7_ack import ack as build_ack
from frontdesk.scheduler.adapters.hl7v2 import MAX_DURATION, YEARS, Hl7Error, decode, parse, parse_timestamp

NY = ZoneInfo("America/New_York")


def ack(text: str, code: str, detail: str = "", control_id: str | None = None) -> str:
    return build_ack(text, Answer(code, detail), control_id)


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
    # Without PV1-45, when the event occurred (EVN-6), else when it was recorded (EVN-2): not "now".
    late = text.replace("|20261207112500", "|")
    assert parse(late, NY).discharged_at == datetime(2026, 12, 7, 11, 30, tzinfo=NY)
    occurred = late.replace("EVN|A03|20261207113000", "EVN|A03|20261207113000||||20261207111500-0500")
    assert parse(occurred, NY).discharged_at == datetime(2026, 12, 7, 11, 15, tzinfo=NY)
    with pytest.raises(Hl7Error, match="EVN-6"):
        parse(occurred.replace("20261207111500-0500", "20261307"), NY)


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
    assert segments[1] == "MSA|AE|MSG00001|slot_taken: overlaps 10:00\\F\\10:30"  # HL7's escape for |
    assert ack(S12, "AA").split("\r")[1] == "MSA|AA|MSG00001"
    # Garbage still gets an answer.
    assert "MSA|AR|" in ack("not hl7 at all", "AR", "the message does not start with an MSH segment")
    assert ack("not hl7 at all", "AR", control_id="C|1").split("\r")[1] == "MSA|AR|C\\F\\1"


def test_an_ack_speaks_the_senders_separators_and_has_its_own_control_id() -> None:
    """HL7 lets MSH-1/MSH-2 choose the separators: the ACK must use them, or MSA-2 no longer names
    the sender's control id."""
    bangs = S12.replace("|", "!").replace("^", "$")
    assert parse(bangs, NY).external_id == "FL-99120"
    segments = ack(bangs, "AE", "a!b$c").split("\r")
    assert segments[0].startswith("MSH!$~\\&!FRONTDESK!SCHEDULER!EPIC!MIDTOWN!")
    assert segments[1] == "MSA!AE!MSG00001!a\\F\\b\\S\\c"
    ids = {ack(S12, "AA").split("\r")[0].split("|")[9] for _ in range(20)}
    assert len(ids) == 20 and all(len(i) <= 20 for i in ids)  # v2.3's MSH-10 is at most 20 characters


def test_a_byte_order_mark_or_blank_lines_before_msh_are_tolerated() -> None:
    for prefix in ("\ufeff", "\r\n\r\n", " \t\r"):
        assert parse(prefix + S12, NY).external_id == "FL-99120"
        assert ack(prefix + S12, "AA").split("\r")[1] == "MSA|AA|MSG00001"


# --- impossible dates, offsets and durations (issue 16, item 10) -----------------------------------

TIMING_FIELDS = {
    # field named in the reason -> how to put a value there in S12
    "SCH-11.4 start": lambda v: S12.replace("^^30^20261207100000^20261207103000", f"^^30^{v}^"),
    "SCH-11.5 end": lambda v: S12.replace("^^30^20261207100000^20261207103000", f"^^30^20261207100000^{v}"),
    "AIS-4 start": lambda v: S12.replace("^^30^20261207100000^20261207103000", "").replace(
        "AIS|1|A|CHECKUP^Checkup|20261207100000", f"AIS|1|A|CHECKUP^Checkup|{v}"
    ),
    "AIS-7 duration": lambda v: S12.replace("^^30^20261207100000^20261207103000", "^^^20261207100000").replace(
        "|||30|min", f"|||{v}|min"
    ),
    "SCH-9 duration": lambda v: (
        S12.replace("^^30^20261207100000^20261207103000", "^^^20261207100000")
        .replace("|||30|min", "|||")
        .replace("|CHECKUP^Checkup|30|min|", f"|CHECKUP^Checkup|{v}|min|")
    ),
    "PV1-45 discharge": lambda v: "\r".join(
        [
            "MSH|^~\\&|EPIC|MIDTOWN|FD|FD|20261207113000||ADT^A03^ADT_A03|MSG3|P|2.5.1",
            "PID|1||MRN-42^^^EPIC^MR",
            "PV1|1|O|MIDTOWN||||DRLEE" + "|" * 12 + "V-5566" + "|" * 26 + v,
        ]
    ),
}
IMPOSSIBLE = {
    "month 13": "20261301100000",
    "30 February": "20260230100000",
    "hour 24": "20261207240000",
    "minute 60": "20261207106000",
    "offset +2500": "20261207100000+2500",
    "offset -1300": "20261207100000-1300",
    "offset minutes 75": "20261207100000+0175",
    "year 0": "00001207100000",
    "year 9999": "99991231235959",
    "not a timestamp": "tomorrow",
}
BAD_DURATIONS = {"negative": "-30", "zero": "0", "huge": "1e300", "a year": "525600", "NaN": "nan", "inf": "inf"}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
@pytest.mark.parametrize("field", [f for f in TIMING_FIELDS if "duration" not in f])
def test_issue16_item10_an_impossible_timestamp_is_refused_naming_the_field(field: str, case: str) -> None:
    with pytest.raises(Hl7Error, match=re.escape(field)):
        parse(TIMING_FIELDS[field](IMPOSSIBLE[case]), NY)


@pytest.mark.parametrize("case", sorted(BAD_DURATIONS))
@pytest.mark.parametrize("field", ["AIS-7 duration", "SCH-9 duration"])
def test_issue16_item10_an_impossible_duration_is_refused_naming_the_field(field: str, case: str) -> None:
    with pytest.raises(Hl7Error, match=re.escape(field)):
        parse(TIMING_FIELDS[field](BAD_DURATIONS[case]), NY)


def test_issue16_item10_an_end_before_the_start_is_refused() -> None:
    with pytest.raises(Hl7Error, match="SCH-11: the end must be after the start"):
        parse(TIMING_FIELDS["SCH-11.5 end"]("20261207090000"), NY)
    with pytest.raises(Hl7Error, match="SCH-11: the end must be after the start and at most 24 hours later"):
        parse(TIMING_FIELDS["SCH-11.5 end"]("20261209100000"), NY)


def test_issue16_item10_the_extremes_that_are_real_still_parse() -> None:
    assert parse_timestamp("21991231235959+1400", NY) == datetime(2199, 12, 31, 9, 59, 59, tzinfo=UTC)
    assert parse_timestamp("19000101000000-1200", NY) == datetime(1900, 1, 1, 12, tzinfo=UTC)
    assert parse_timestamp("20280229", NY) == datetime(2028, 2, 29, tzinfo=NY)  # a leap day
    m = parse(TIMING_FIELDS["AIS-7 duration"]("1440"), NY)
    assert m.ends_at is not None and m.starts_at is not None and m.ends_at - m.starts_at == timedelta(hours=24)


DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=16)
TIMESTAMPISH = st.one_of(
    st.builds(lambda d, sign, off: d + sign + off, DIGITS, st.sampled_from(["", "+", "-"]), DIGITS),
    st.text(alphabet="0123456789+-.:T Z٣", max_size=24),  # ٣: an Arabic-Indic digit, which \d matched
    st.sampled_from(list(IMPOSSIBLE.values())),
)
DURATIONISH = st.one_of(
    st.text(alphabet="0123456789-+.eE", max_size=12),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "0.0000001", "1_000"]),
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(TIMING_FIELDS)), timestamp=TIMESTAMPISH, duration=DURATIONISH)
def test_issue16_item10_random_malformed_timing_never_escapes_as_anything_but_hl7error(
    field: str, timestamp: str, duration: str
) -> None:
    text = TIMING_FIELDS[field](duration if "duration" in field else timestamp)
    try:
        m = parse(text, NY)
    except Hl7Error as exc:
        assert field.split()[0].split(".")[0] in str(exc) and len(str(exc)) < 200
        assert "\r" not in ack(text, "AR", str(exc)).split("\r")[1]  # the reason stays in MSA
        return
    for moment in (m.starts_at, m.ends_at, m.discharged_at):
        assert moment is None or YEARS[0] - 1 <= moment.astimezone(UTC).year <= YEARS[1] + 1
    if m.starts_at is not None and m.ends_at is not None:
        assert timedelta(0) < m.ends_at - m.starts_at <= MAX_DURATION


@pytest.mark.parametrize(("old", "field"), [("|MSG00001|", "MSH-10"), ("|MIDTOWN|", "MSH-4")])
def test_issue16_item10_a_control_id_or_facility_too_long_to_key_is_refused(old: str, field: str) -> None:
    # Before: stored as the deduplication key, whose index refuses an entry of a few kB: a 500.
    text = S12.replace(old, f"|{'Z' * 5000}|", 1)
    with pytest.raises(Hl7Error, match=f"{field} .* is 5000 characters long"):
        parse(text, NY)


@pytest.mark.parametrize(
    ("pid", "patient"),
    [
        ("PID|1||MRN-42^^^EPIC^MR", "MRN-42"),
        ("PID|1||E-77^^^EPI^EPI~MRN-42^^^EPIC^MR~999-99-9999^^^SSA^SS", "MRN-42"),  # the MR, wherever it is
        ("PID|1||E-77^^^EPI^PI~X-1^^^OTHER^PN", "E-77"),  # no MR: the first identifier
        ("PID|1|V23-5||", "V23-5"),  # a v2.3 sender's PID-2 when PID-3 is empty
        ("PID|1||", None),
    ],
)
def test_the_patient_is_pid_3s_medical_record_number(pid: str, patient: str | None) -> None:
    text = re.sub(r"PID\|[^\r]*", lambda _: pid, S12, count=1)
    assert parse(text, NY).patient_id == patient


def test_a_deletion_cancels() -> None:
    assert parse(S12.replace("SIU^S12^SIU_S12", "SIU^S17^SIU_S17"), NY).action == "cancel"


# --- what other EHRs send ------------------------------------------------------------------------


def test_hl7s_null_reads_as_no_value() -> None:
    """`""` is HL7's explicit null. Read as a value, it became the id `--`: every S12 whose filler id
    was null shared one appointment (the second booked nothing and was acknowledged AA), and a null
    PID-3 booked patient `--`."""
    m = parse(S12.replace("FL-99120^EPIC", '""').replace("BOOKED", '""').replace("|||30|min", '|||""|""'), NY)
    assert (m.external_id, m.filler_status, m.ends_at) == ("PL-7781", None, datetime(2026, 12, 7, 10, 30, tzinfo=NY))
    assert parse(S12.replace("MRN-42^^^EPIC^MR", '""'), NY).patient_id is None
    assert (
        parse(S12.replace("DRLEE^Lee^Ann|PROVIDER", '""').replace("AIG|1|A|DRLEE^Lee^Ann", "AIG"), NY).provider_id
        is None
    )
    a03 = TIMING_FIELDS["PV1-45 discharge"]('""').replace("PID|", "EVN|A03|20261207113000\rPID|")
    assert parse(a03, NY).discharged_at == datetime(2026, 12, 7, 11, 30, tzinfo=NY)  # EVN-2, as without PV1-45


def test_blank_lines_and_mllp_bytes_between_segments_are_tolerated() -> None:
    # Before: a blank line ended MSH for python-hl7, and the message was refused as "MSH-10 is empty".
    for gap in ("\r\r", "\r\n\r\n", "\n \n", "\x1c\r\x0b"):
        assert parse(S12.replace("\rRGS", gap + "RGS"), NY).external_id == "FL-99120"
        assert ack(S12.replace("\rRGS", gap + "RGS"), "AA").split("\r")[1] == "MSA|AA|MSG00001"
    assert parse(S12 + "\x00\x00", NY).external_id == "FL-99120"  # NUL padding after the message


BATCH = f"FHS|^~\\&|EPIC\rBHS|^~\\&|EPIC\r{S12}\r{S12.replace('MSG00001', 'MSG00002')}\rBTS|2\rFTS|1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # Only one ACK goes back: before, the messages after the first were acknowledged unread.
        (S12 + "\r" + S12.replace("MSG00001", "MSG00002"), "2 messages (MSH segments) in one request"),
        (f"\x0b{S12}\x1c\r\x0b{S12}\x1c\r", "2 messages (MSH segments) in one request"),
        (BATCH, "a batch (FHS/BHS) is not taken"),
        # PostgreSQL cannot store it: before, a JSON 422 instead of an ACK.
        (S12.replace("DOE", "D\x00OE"), "NUL character"),
        (S12.replace("SIU^S12^SIU_S12", "SIU^S16^SIU_S12"), "unsupported message type SIU^S16 (taken: SIU^S12"),
    ],
)
def test_what_is_not_one_readable_message_is_refused_whole(text: str, problem: str) -> None:
    with pytest.raises(Hl7Error, match=re.escape(problem)):
        parse(text, NY)
    assert ack(text, "AR", problem).split("\r")[1].startswith("MSA|AR|")
    assert ack(BATCH, "AR").split("\r")[1] == "MSA|AR|"  # no one message of the batch is answered for it


@pytest.mark.parametrize(
    ("charset", "written_as", "codec"),
    [
        ("8859/1", "latin-1", "iso-8859-1"),
        ("8859/15", "iso8859-15", "iso-8859-15"),
        ("UNICODE UTF-8", "utf-8", "utf-8"),
        ("", "utf-8", "utf-8"),
        ("", "latin-1", "iso-8859-1"),  # no MSH-18, not UTF-8: Latin-1, not replacement characters
        ("UNICODE UTF-8", "latin-1", "iso-8859-1"),  # declared UTF-8, written Latin-1
        ("ASCII", "latin-1", "iso-8859-1"),
        ("UNICODE UTF-8~8859/1", "utf-8", "utf-8"),  # MSH-18 repeats: the first is the message's
    ],
)
def test_the_character_set_is_the_one_msh_18_names(charset: str, written_as: str, codec: str) -> None:
    text = S12.replace("|P|2.5.1", f"|P|2.5.1|||||USA|{charset}").replace("DOE^JANE", "M\u00dcLLER^JOS\u00c9")
    assert decode(text.encode(written_as)) == (text, codec)
    assert decode(b"\xef\xbb\xbf" + text.encode()) == (text, "utf-8")
    for fragment in (b"", b"MSH", b"MSH\r", b"MSH|", b"\xff\xfe"):
        decode(fragment)  # answered (as garbage), never an exception


def test_a_resend_is_the_same_message_and_a_reused_control_id_is_not() -> None:
    """The digest tells a resend (an engine may stamp MSH-7 anew, write LF for CR) from another message
    under the same control id."""
    digest = parse(S12, NY).digest
    assert parse(S12.replace("20261127083000", "20261127093000").replace("\r", "\r\n"), NY).digest == digest
    assert parse(S12.replace("FL-99120", "FL-99121"), NY).digest != digest
    assert parse(S12.replace("SIU^S12", "SIU^S14"), NY).digest != digest


@pytest.mark.parametrize(
    ("trigger", "status", "action"),
    [
        ("S14", "Cancelled", "cancel"),
        ("S14", "CANCELED", "cancel"),  # as several EHRs spell it
        ("S13", "Deleted", "cancel"),
        ("S14", "DC", "cancel"),
        ("S14", "No Show", "no_show"),
        ("S14", "NOSHOW", "no_show"),
        ("S14", "Booked", "modify"),
        ("S14", "Complete", "modify"),
        ("S12", "Cancelled", "book"),  # only an update's status says it ended
    ],
)
def test_an_update_whose_filler_status_says_cancelled_or_no_show_is_one(trigger: str, status: str, action: str) -> None:
    """Before, an S14 with SCH-25 Cancelled was "nothing we track changed": the appointment stayed booked
    and its reminders went out."""
    text = S12.replace("SIU^S12^SIU_S12", f"SIU^{trigger}^SIU_S12").replace("|BOOKED", f"|{status}")
    assert parse(text, NY).action == action


@pytest.mark.parametrize("field", ["SCH-11.4 start", "SCH-11.5 end", "AIS-4 start"])
def test_an_appointment_time_without_a_time_of_day_is_refused(field: str) -> None:
    """HL7 lets a timestamp stop at the day: as a start, it booked midnight (and reminded of it)."""
    with pytest.raises(Hl7Error, match=re.escape(f"{field} '20261207' is a date without a time of day")):
        parse(TIMING_FIELDS[field]("20261207"), NY)
    parse(TIMING_FIELDS[field]("2026120711"), NY)  # to the hour is a time


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.6", "2.7", "2.8"])
def test_versions_2_3_to_2_8_and_their_header_fields_read_the_same(version: str) -> None:
    """MSH-9 with two components or three, v2.7's truncation character in MSH-2, MSH-15/16 asking for
    acknowledgments (over HTTP the answer is always the application ACK), Z-segments anywhere."""
    text = (
        S12.replace("|P|2.5.1", f"|P|{version}|||AL|NE|USA")
        .replace("SIU^S12^SIU_S12", "SIU^S12" if version == "2.3" else "SIU^S12^SIU_S12")
        .replace("MSH|^~\\&|", "MSH|^~\\&#|" if version >= "2.7" else "MSH|^~\\&|")
        .replace("\rPID", "\rZSC|1|x^y~z\rPID")
    )
    m = parse(text + "\rZPV|1", NY)
    assert (m.action, m.external_id, m.patient_id, m.provider_id) == ("book", "FL-99120", "MRN-42", "DRLEE")
    assert ack(text, "AA").split("\r")[1] == "MSA|AA|MSG00001"
