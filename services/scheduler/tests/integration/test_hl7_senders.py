"""What other EHRs' interface engines really send, over HTTP on the running scheduler: resends that
race their first copy, control ids reused for another message, Latin-1 bytes, NUL characters, several
messages in one body, oversized messages. Each gets an ACK (HTTP 200), never a 5xx or a JSON error,
and nothing acknowledged is lost or applied twice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx

from frontdesk.testing.helpers import query, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_scheduler_interop import NY, known_clinic, msa, open_around_the_clock, siu


async def test_what_real_senders_send_is_always_answered_with_an_ack(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = uid("hl7-snd")
    await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "HL7 Senders Clinic"))
    day = (datetime.now(NY) + timedelta(days=30)).strftime("%Y%m%d")
    url = running["scheduler"].url + f"/v1/hl7/{clinic_id}"
    ehr = {"Authorization": f"Bearer {stack.api_token(clinics=[clinic_id], subject='ehr-interface')}"}
    database = stack.database_url("scheduler")

    async def booked(filler: str) -> int:
        rows = await query(
            database, "SELECT 1 FROM appointments WHERE clinic_id = $1 AND external_id = $2", clinic_id, filler
        )
        return len(rows)

    async def status_of(filler: str) -> tuple[str, str]:
        [row] = await query(
            database,
            "SELECT status, starts_at FROM appointments WHERE clinic_id = $1 AND external_id = $2",
            clinic_id,
            filler,
        )
        return row["status"], row["starts_at"].astimezone(NY).strftime("%Y%m%d%H%M")

    async with httpx.AsyncClient(timeout=30, headers=ehr) as client:

        async def send(body: bytes) -> tuple[list[str], httpx.Response]:
            response = await client.post(url, content=body, headers={"content-type": "x-application/hl7-v2+er7"})
            assert response.status_code == 200, response.text
            return msa(response.text), response

        # A resend racing its first copy (the engine timed out and sent again): before, the copies
        # collided on the message's key and some were answered 500. Now each waits and gets the answer.
        control, filler = uid("MSG"), uid("FL")
        text = siu("S12", control, filler, uid("mrn"), "DRLEE", day + "100000", "BOOKED").encode()
        answers = await asyncio.gather(*(send(text) for _ in range(6)))
        assert {tuple(a[1:3]) for a, _ in answers} == {("AA", control)}
        assert await booked(filler) == 1

        # A control id reused for another message (a sender's counter reset): before, it got the first
        # message's AA and was lost. Now AR, saying why; a true resend still gets the first answer.
        other = uid("FL")
        reused, _ = await send(siu("S12", control, other, uid("mrn"), "DRLEE", day + "120000", "BOOKED").encode())
        assert reused[1] == "AR" and "different message" in reused[3], reused
        assert await booked(other) == 0
        resent = text.replace(b"20261127083000", b"20261127090000")  # re-stamped MSH-7: the same message
        assert (await send(resent))[0][1:3] == ["AA", control]

        # Two messages in one body (two MLLP frames): before, the second was acknowledged unread.
        first, second = uid("FL"), uid("FL")
        two = "".join(
            f"\x0b{siu('S12', uid('MSG'), f, uid('mrn'), 'DRLEE', day + start, 'BOOKED')}\x1c\r"
            for f, start in ((first, "130000"), (second, "140000"))
        )
        refused, _ = await send(two.encode())
        assert refused[1] == "AR" and "2 messages" in refused[3]
        assert await booked(first) + await booked(second) == 0

        # A NUL character: before, a JSON 422 (PostgreSQL refuses it), which is no ACK.
        nul, _ = await send(
            siu("S13", uid("MSG"), uid("FL"), "p1", "DRLEE", day + "090000", "BOOKED")
            .replace("DOE", "D\x00OE")
            .encode()
        )
        assert nul[1] == "AR" and "NUL" in nul[3]

        # Over the size limit: an AR naming it, before a 413 the engine would resend forever.
        big = (
            siu("S12", uid("MSG"), uid("FL"), uid("mrn"), "DRLEE", day + "150000", "BOOKED")
            + "\rNTE|1||"
            + "x" * 300_000
        )
        oversized, _ = await send(big.encode())
        assert oversized[1] == "AR" and "at most 256000" in oversized[3]

        # The appointment's life told the ways EHRs tell it. An S12 again at another time (sent instead
        # of an S13): before, "already booked" and the move was lost; now a reschedule.
        patient = uid("mrn")
        moved, _ = await send(siu("S12", uid("MSG"), filler, patient, "DRLEE", day + "103000", "BOOKED").encode())
        assert moved[1] == "AA"
        assert await status_of(filler) == ("booked", f"{day}1030")
        # An S14 whose SCH-25 says Cancelled: before, "nothing we track changed", still booked.
        assert (await send(siu("S14", uid("MSG"), filler, patient, "DRLEE", day + "103000", "Cancelled").encode()))[0][
            1
        ] == "AA"
        assert (await status_of(filler))[0] == "cancelled"
        # An S12 for the cancelled appointment: before, "already booked" (AA) while it stayed cancelled.
        again, _ = await send(siu("S12", uid("MSG"), filler, patient, "DRLEE", day + "103000", "BOOKED").encode())
        assert again[1] == "AE" and "is cancelled: quarantined" in again[3]
        # A no-show as an S14 with status "No Show".
        absent = uid("FL")
        assert (await send(siu("S12", uid("MSG"), absent, patient, "DRLEE", day + "160000", "BOOKED").encode()))[0][
            1
        ] == "AA"
        assert (await send(siu("S14", uid("MSG"), absent, patient, "DRLEE", day + "160000", "No Show").encode()))[0][
            1
        ] == "AA"
        assert (await status_of(absent))[0] == "noshow"

        # Another provider, same time: before, "nothing we track changed" (AA) and the move was lost.
        reassigned = uid("FL")
        assert (await send(siu("S12", uid("MSG"), reassigned, patient, "DRLEE", day + "170000", "BOOKED").encode()))[0][
            1
        ] == "AA"
        moved_away, _ = await send(
            siu("S14", uid("MSG"), reassigned, patient, "DRNEW", day + "170000", "BOOKED").encode()
        )
        assert moved_away[1] == "AE" and "moved to provider DRNEW: quarantined" in moved_away[3]
        assert await status_of(reassigned) == ("booked", f"{day}1700")

        # ISO 8859-1 (MSH-18 8859/1): before, read as UTF-8 with the names and a Latin-1 control id
        # turned into U+FFFD (in the quarantine, and in MSA-2, which then named no message of theirs).
        unknown, latin_control = uid("FL"), f"C\u00e9-{uid('M')}"
        latin = (
            siu("S13", latin_control, unknown, "p1", "DRLEE", day + "090000", "BOOKED")
            .replace("|P|2.5.1", "|P|2.5.1|||||USA|8859/1")
            .replace("DOE^JANE", "M\u00dcLLER^JOS\u00c9")
        )
        quarantined, response = await send(latin.encode("latin-1"))
        assert quarantined[1:3] == ["AE", latin_control]
        assert response.headers["content-type"].endswith("charset=iso-8859-1")
        assert latin_control.encode("latin-1") in response.content  # their bytes back, in their character set
        [row] = await query(
            database, "SELECT raw FROM hl7_messages WHERE clinic_id = $1 AND raw LIKE $2", clinic_id, f"%{unknown}%"
        )
        assert "M\u00dcLLER^JOS\u00c9" in row["raw"]

    # None of it reached the log: not the patients' ids, not their names (the quarantine keeps those).
    log = running["scheduler"].process.log_file.read_text(errors="replace")
    assert patient not in log and "M\u00dcLLER" not in log and "JOS\u00c9" not in log
