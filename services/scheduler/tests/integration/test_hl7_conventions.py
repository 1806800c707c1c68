"""What interface engines (Mirth, Rhapsody, Epic Bridges, Cloverleaf) expect of an HL7 receiver, on the
running scheduler over HTTP and MLLP, with other EHRs' messages (v2.3 and v2.5.1, their own MSH-3/4,
repeated fields, Z-segments): ACKs with the parties swapped and an ERR saying what is wrong (table 0357
code and field), a training message never applied, an ADT feed's other events taken unused, and an
ADT^A13 (discharge cancelled) after an applied A03 quarantined for staff, with no second visit.completed."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_scheduler_interop import NY, known_clinic, open_around_the_clock
from .test_scheduler_mllp import WAIT, exchange


def cerner_s12(control: str, filler: str, patient: str, start: str, mode: str = "P", version: str = "2.3") -> str:
    """A Cerner-style SIU^S12 through Rhapsody: HD components in MSH-3, MSH-9 of two parts, PID-3
    repeated (the MR is the second), a Z-segment between PID and AIS."""
    return "\r".join(
        [
            f"MSH|^~\\&|CERNER^2.16.840.1.113883.3.1^ISO|SOHO_HOSP|RHAPSODY|FD|20261127083000||SIU^S12|{control}"
            f"|{mode}|{version}|||AL|NE",
            f"SCH|PL-{filler}|{filler}|||||||30|min|^^30^{start}",
            f"PID|1||E-{patient}^^^ENT^PI~{patient}^^^SOHO^MR||ROE^RICHARD",
            "ZSC|1|local^stuff~more",
            f"AIS|1|A|CHECKUP|{start}",
            "AIP|1|A|DRLEE",
        ]
    )


def epic_adt(trigger: str, control: str, patient: str, visit: str, discharged: str = "") -> str:
    """An Epic Bridges-style v2.5.1 ADT event: EVN, PID-3 with the MR and an SSN, PV1-19, PV1-45, a ZPV."""
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|MIDTOWN^1.2.3^ISO|FRONTDESK|SCHEDULER|20261207113000-0500||ADT^{trigger}^ADT_A01|{control}"
            "|P|2.5.1|||AL|NE||UNICODE UTF-8",
            f"EVN|{trigger}|20261207113000",
            f"PID|1||{patient}^^^EPIC^MR~999-99-9999^^^SSA^SS||DOE^JANE",
            "PV1|1|O|MIDTOWN||||DRLEE^Lee^Ann" + "|" * 12 + visit + "|" * 26 + discharged,
            "ZPV|1|x",
        ]
    )


def segments(answer: str) -> dict[str, list[str]]:
    return {segment[:3]: segment.split("|") for segment in answer.split("\r") if segment}


async def test_acks_follow_the_conventions_and_adt_events_are_answered_per_meaning(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = uid("hl7-conv")
    await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "HL7 Conventions Clinic"))
    day = datetime.now(NY) + timedelta(days=30)
    database = stack.database_url("scheduler")
    url = running["scheduler"].url + f"/v1/hl7/{clinic_id}"
    ehr = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], subject='ehr-interface')}"}

    async def booked(filler: str) -> list[str]:
        rows = await query(
            database, "SELECT status FROM appointments WHERE clinic_id = $1 AND external_id = $2", clinic_id, filler
        )
        return [r["status"] for r in rows]

    async with (
        httpx.AsyncClient(timeout=30, headers=ehr) as client,
        EventTap(stack.bootstrap, ["visit.completed"]) as tap,
    ):

        async def send(text: str) -> dict[str, list[str]]:
            response = await client.post(
                url, content=text.encode(), headers={"content-type": "x-application/hl7-v2+er7"}
            )
            assert response.status_code == 200, response.text
            return segments(response.text)

        # A v2.3 booking: AA, the parties swapped, MSH-9 ACK^S12^ACK, MSH-11/12 echoed, no ERR.
        control, filler, patient = uid("CRN"), uid("FL"), uid("mrn")
        answer = await send(cerner_s12(control, filler, patient, day.strftime("%Y%m%d") + "0900"))
        assert answer["MSA"][1:3] == ["AA", control] and "ERR" not in answer
        assert answer["MSH"][2:6] == ["RHAPSODY", "FD", "CERNER^2.16.840.1.113883.3.1^ISO", "SOHO_HOSP"]
        assert (answer["MSH"][8], answer["MSH"][10], answer["MSH"][11]) == ("ACK^S12^ACK", "P", "2.3")
        assert await booked(filler) == ["booked"]

        # The same EHR's training system: before, booked a real appointment (AA). Now AR 202, nothing booked.
        training = uid("FL")
        answer = await send(cerner_s12(uid("CRN"), training, uid("mrn"), day.strftime("%Y%m%d") + "1000", mode="T"))
        assert answer["MSA"][1] == "AR" and answer["ERR"][1].startswith("MSH^1^11^202&"), answer
        assert await booked(training) == []
        # A version we do not read: AR 203 (ERR-1, as a pre-2.5 sender reads it).
        answer = await send(
            cerner_s12(uid("CRN"), uid("FL"), uid("mrn"), day.strftime("%Y%m%d") + "1100", version="2.2")
        )
        assert answer["MSA"][1] == "AR" and answer["ERR"][1].startswith("MSH^1^12^203&"), answer

        # An update for an appointment we never saw, v2.5.1: AE 204 at SCH-2, severity E, the reason in ERR-8.
        unknown = cerner_s12(uid("CRN"), uid("FL"), uid("mrn"), day.strftime("%Y%m%d") + "1200", version="2.5.1")
        answer = await send(unknown.replace("SIU^S12", "SIU^S13"))
        assert answer["MSA"][1] == "AE"
        assert answer["ERR"][2:5] == ["SCH^1^2^1", "204^Unknown key identifier^HL70357", "E"]
        assert "quarantined" in answer["ERR"][8]
        resent = await send(unknown.replace("SIU^S12", "SIU^S13"))  # a resend gets the same ERR
        assert resent["ERR"][2:5] == answer["ERR"][2:5] and resent["MSA"][1:4] == answer["MSA"][1:4]
        # Another message under a used control id: AR 205 at MSH-10.
        reused = await send(cerner_s12(control, uid("FL"), patient, day.strftime("%Y%m%d") + "1300"))
        assert reused["MSA"][1] == "AR" and reused["ERR"][1].startswith("MSH^1^10^205&"), reused
        # A change of SIU we do not take: AR 201 (before: AR, no ERR).
        s16 = await send(
            cerner_s12(uid("CRN"), filler, patient, day.strftime("%Y%m%d") + "0900").replace("^S12", "^S16")
        )
        assert s16["MSA"][1] == "AR" and s16["ERR"][1].startswith("MSH^1^9^201&")

        # An ADT feed: A04 registration, A08 update, A11 cancel admit change nothing here: AA, ERR-3 0 (I).
        for trigger in ("A04", "A08", "A11"):
            answer = await send(epic_adt(trigger, uid("EP"), patient, uid("V")))
            assert answer["MSA"][1] == "AA" and answer["ERR"][3:5] == ["0^Message accepted^HL70357", "I"], answer
            assert answer["MSH"][8] == f"ACK^{trigger}^ACK" and answer["MSH"][17] == "UNICODE UTF-8"

        # A03 completes the visit; A13 (discharge entered in error) after it is quarantined for staff
        # (before: AR, unsupported); a later A03 again announces nothing twice.
        visit = uid("V")
        discharged = day.strftime("%Y%m%d") + "0935"
        assert (await send(epic_adt("A03", uid("EP"), patient, visit, discharged)))["MSA"][1] == "AA"
        answer = await send(epic_adt("A13", uid("EP"), patient, visit))
        assert answer["MSA"][1] == "AE" and answer["ERR"][2] == "PV1^1^19^1", answer
        assert "discharge of visit" in answer["MSA"][3] and "quarantined" in answer["MSA"][3]
        assert (await send(epic_adt("A03", uid("EP"), patient, visit, discharged)))["MSA"][1] == "AA"
        # An A13 for a visit never completed here: nothing to undo.
        nothing = await send(epic_adt("A13", uid("EP"), patient, uid("V")))
        assert nothing["MSA"][1] == "AA" and nothing["ERR"][4] == "I"
        # An A13 that names no visit: AR 101 at PV1-19.
        anonymous = await send(epic_adt("A13", uid("EP"), patient, ""))
        assert anonymous["MSA"][1] == "AR" and anonymous["ERR"][2:4] == [
            "PV1^1^19^1",
            "101^Required field missing^HL70357",
        ]

        ours = lambda e: getattr(e.data, "visit_id", None) == visit  # noqa: E731
        await tap.wait_for(ours, count=1, timeout=WAIT)
        await tap.settle(1.5)
    assert len(tap.matching(ours)) == 1
    assert await booked(filler) == ["fulfilled"]
    quarantined = await query(
        database,
        "SELECT message_type, error_code, error_location FROM hl7_messages"
        " WHERE clinic_id = $1 AND outcome = 'quarantined'",
        clinic_id,
    )
    feed = await query(database, "SELECT 1 FROM hl7_messages WHERE clinic_id = $1 AND outcome = 'ignored'", clinic_id)
    assert feed == []  # a hospital's whole ADT feed is not kept
    assert sorted((r["message_type"], r["error_code"], r["error_location"]) for r in quarantined) == [
        ("ADT^A13", 207, "PV1-19"),
        ("SIU^S13", 204, "SCH-2"),
    ]


async def test_over_mllp_the_same_conventions(stack: LocalStack, running: dict[str, ServiceProcess]) -> None:
    """An engine's MLLP connection: the ACK's MSH names the clinic the message was addressed to, a
    training message is refused 202 and a feed's A08 taken, each answered on the same connection."""
    clinic_id = uid("mllp-conv")
    await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "MLLP Conventions Clinic"))
    start = (datetime.now(NY) + timedelta(days=30)).strftime("%Y%m%d") + "0900"
    booking, training = uid("FL"), uid("FL")
    messages = [
        cerner_s12(uid("CRN"), booking, uid("mrn"), start, version="2.5.1").replace(
            "|RHAPSODY|FD|", f"|RHAPSODY|{clinic_id}|"
        ),
        cerner_s12(uid("CRN"), training, uid("mrn"), start, mode="T").replace(
            "|RHAPSODY|FD|", f"|RHAPSODY|{clinic_id}|"
        ),
        epic_adt("A08", uid("EP"), uid("mrn"), uid("V")).replace("|FRONTDESK|SCHEDULER|", f"|FRONTDESK|{clinic_id}|"),
        "hello",
    ]
    answers = [segments(answer) for answer in await exchange(stack.scheduler_mllp_port, *messages)]
    booked, refused, feed, garbage = answers
    assert booked["MSA"][1] == "AA" and booked["MSH"][2:4] == ["RHAPSODY", clinic_id] and "ERR" not in booked
    assert refused["MSA"][1] == "AR" and refused["ERR"][1].startswith("MSH^1^11^202&")
    assert feed["MSA"][1] == "AA" and feed["ERR"][4] == "I"
    assert garbage["MSA"][1] == "AR" and garbage["ERR"][3].startswith("101^")  # no MSH-6 to name a clinic
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT external_id FROM appointments WHERE clinic_id = $1 AND external_id = ANY($2)",
        clinic_id,
        [booking, training],
    )
    assert [r["external_id"] for r in rows] == [booking]
