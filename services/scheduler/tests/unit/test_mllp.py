"""The MLLP listener's pure parts: framing, who a certificate names, which clinic a message is for,
and the settings it refuses to start with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from frontdesk.common.auth import Principal
from frontdesk.common.settings import ServiceSettings
from frontdesk.scheduler.adapters.hl7v2 import HeaderIds, header_ids
from frontdesk.scheduler.entrypoints.mllp import (
    END,
    LOCAL_SENDER,
    MAX_MESSAGE,
    START,
    MissingMllpSettings,
    MllpSettings,
    clinic_for,
    frames,
    resolve,
    sender_of,
)

MSH = "MSH|^~\\&|EPIC|NORTH|FRONTDESK|{facility}|20261207083000||SIU^S12|C1|P|2.5.1"


def _reader(*chunks: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=MAX_MESSAGE + len(END))
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def _all(reader: asyncio.StreamReader) -> list[bytes]:
    return [frame async for frame in frames(reader)]


async def test_frames_split_across_reads_with_noise_between_them() -> None:
    stream = b"\r\n" + START + b"MSH|one\rPID|1" + END + b"junk" + START + b"MSH|two" + END
    cut = [stream[:5], stream[5:17], stream[17:]]
    assert await _all(_reader(*cut)) == [b"MSH|one\rPID|1", b"MSH|two"]


async def test_a_connection_closed_mid_frame_yields_nothing_for_it() -> None:
    assert await _all(_reader(START + b"MSH|one" + END + START + b"MSH|cut")) == [b"MSH|one"]


async def test_a_frame_over_the_limit_ends_the_connection() -> None:
    with pytest.raises(asyncio.LimitOverrunError):
        await _all(_reader(START + b"x" * (MAX_MESSAGE + 10) + END))


def _certificate(cn: str, *uris: str) -> dict[str, object]:
    return {"subject": ((("commonName", cn),),), "subjectAltName": tuple(("URI", u) for u in uris)}


def test_a_certificate_names_its_sender_and_clinics() -> None:
    one = sender_of(_certificate("epic-north", "urn:frontdesk:clinic:north", "https://example.org/x"))
    assert one.subject == "mllp:epic-north" and one.clinics == frozenset({"north"})
    assert sender_of(_certificate("engine", "urn:frontdesk:clinic:*")).clinics is None
    assert sender_of(_certificate("nobody")).clinics == frozenset()  # may send for no clinic
    assert sender_of({}).subject == "mllp:unnamed"


def test_the_clinic_is_the_certificates_one_or_the_one_msh6_names() -> None:
    one = Principal("mllp:a", frozenset({"north"}), frozenset())
    several = Principal("mllp:b", frozenset({"north", "south"}), frozenset())

    def facility(name: str) -> str | None:
        return header_ids(MSH.format(facility=name)).receiving_facility

    assert clinic_for(one, facility("EPIC-FACILITY-CODE")) == ("north", None)
    assert clinic_for(several, facility("south")) == ("south", None)
    clinic, refusal = clinic_for(several, facility("east"))
    assert clinic is None and refusal == "this sender may not send for clinic east"
    clinic, refusal = clinic_for(several, facility(""))
    assert clinic is None and refusal is not None and "MSH-6" in refusal
    assert clinic_for(several, header_ids("not hl7").receiving_facility)[0] is None
    assert clinic_for(LOCAL_SENDER, facility("east")) == ("east", None)
    nobody = Principal("mllp:c", frozenset(), frozenset())
    assert clinic_for(nobody, facility("north"))[0] is None


def test_the_header_ids_are_read_without_parsing_the_whole_message() -> None:
    ids = header_ids("\ufeff" + MSH.format(facility="north") + "\rPID|broken^^^")
    assert (ids.receiving_facility, ids.control_id) == ("north", "C1")
    assert header_ids("hello") == HeaderIds(None, None)


def _service(host: str) -> ServiceSettings:
    return ServiceSettings(
        service="scheduler", database_url=f"postgresql://u@{host}/d", kafka_bootstrap_servers=f"{host}:9092"
    )


def test_plain_tcp_only_on_the_local_stack_and_on_loopback() -> None:
    assert resolve(MllpSettings(), _service("db.internal")).port is None  # no port, no listener
    assert resolve(MllpSettings(port=2575), _service("127.0.0.1")).port == 2575
    with pytest.raises(MissingMllpSettings):
        resolve(MllpSettings(port=2575), _service("db.internal"))
    with pytest.raises(MissingMllpSettings):
        resolve(MllpSettings(port=2575, host="0.0.0.0"), _service("127.0.0.1"))


def test_tls_needs_its_certificate_key_and_client_ca_together() -> None:
    pem = Path("x.pem")
    complete = MllpSettings(port=2575, host="0.0.0.0", tls_cert=pem, tls_key=pem, client_ca=pem)
    assert resolve(complete, _service("db.internal")) == complete
    with pytest.raises(MissingMllpSettings):
        resolve(MllpSettings(port=2575, tls_cert=pem, tls_key=pem), _service("db.internal"))
