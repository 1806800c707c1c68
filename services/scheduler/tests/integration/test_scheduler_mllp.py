"""HL7 v2 over MLLP, on the real stack: the local stack's plain listener applies messages as HTTP does
(one booking for a message sent twice, AR for garbage, each message audited); a TLS listener takes
only senders whose certificate its CA signed and did not revoke, each for the clinics the certificate
names."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from frontdesk.scheduler.entrypoints.mllp import END, START
from frontdesk.testing.helpers import query, uid
from frontdesk.tools.ports import free_port
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_scheduler_interop import known_clinic, msa, open_around_the_clock, siu

WAIT = 60.0


def _start(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y%m%d") + "0900+0000"


async def exchange(port: int, *messages: str, context: ssl.SSLContext | None = None) -> list[str]:
    """Send the messages on one connection, all framed in one write, and read their ACKs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        writer.write(b"".join(START + m.encode() + END for m in messages))
        await writer.drain()
        answers = []
        for _ in messages:
            framed = await asyncio.wait_for(reader.readuntil(END), WAIT)
            assert framed.startswith(START)
            answers.append(framed[1 : -len(END)].decode())
        return answers
    finally:
        writer.close()


async def _exchange(port: int, *messages: str, context: ssl.SSLContext | None = None) -> list[list[str]]:
    """The MSA of each message's ACK."""
    return [msa(answer) for answer in await exchange(port, *messages, context=context)]


async def test_the_local_listener_applies_messages_once_and_audits_them(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    clinic_id = uid("mllp")
    await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "MLLP Test Clinic"))
    control, filler = uid("MSG"), uid("FL")
    booking = siu("S12", control, filler, uid("mrn"), "DRLEE", _start(30), "BOOKED").replace(
        "|SCHEDULER|", f"|{clinic_id}|", 1
    )
    answers = await _exchange(stack.scheduler_mllp_port, booking, booking, "hello")
    assert [a[1] for a in answers] == ["AA", "AA", "AR"]
    assert answers[0][2] == control
    rows = await query(
        stack.database_url("scheduler"), "SELECT status FROM appointments WHERE external_id = $1", filler
    )
    assert [r["status"] for r in rows] == ["booked"]
    audited = await query(
        stack.database_url("scheduler"),
        "SELECT subject, method, resource->>'control_id' AS control_id, status FROM audit.log"
        " WHERE clinic_id = $1 AND method = 'MLLP'",
        clinic_id,
    )
    assert [(a["subject"], a["control_id"], a["status"]) for a in audited] == [("mllp:local-stack", control, 200)] * 2


@dataclass
class Pki:
    """A CA, the listener's certificate, and senders' certificates (some from a CA it does not trust)."""

    folder: Path
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
    rogue: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]

    def issue(self, name: str, *, uris: tuple[str, ...] = (), server: bool = False, by_rogue: bool = False) -> Path:
        issuer, issuer_key = self.rogue if by_rogue else self.ca
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        if server:
            names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        certificate = (
            _builder(name, issuer.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        path = self.folder / f"{name}.pem"
        path.write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return path

    def revocation_list(self, *revoked: Path) -> Path:
        """The CA's CRL, revoking the certificates of these files."""
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca[0].subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=1))
        )
        for path in revoked:
            serial = x509.load_pem_x509_certificate(path.read_bytes()).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = self.folder / "crl.pem"
        crl.write_bytes(builder.sign(self.ca[1], hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return crl

    def client(self, certificate: Path | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.folder / "ca.pem"))
        if certificate is not None:
            context.load_cert_chain(str(certificate))
        return context


def _builder(name: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )


def _authority(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        _builder(name, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = _authority("frontdesk-test-ca")
    (tmp_path / "ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    return Pki(tmp_path, ca, _authority("someone-else"))


@pytest.fixture
def tls_scheduler(stack: LocalStack, running: dict[str, ServiceProcess], pki: Pki) -> Iterator[int]:
    """A scheduler replica whose MLLP listener speaks TLS and trusts `pki`'s CA; yields its port."""
    replica = stack.replica("scheduler", 90)
    port = free_port()
    certificate = pki.issue("scheduler", server=True)
    replica.env.update(
        {
            "FRONTDESK_MLLP_PORT": str(port),
            "FRONTDESK_MLLP_TLS_CERT": str(certificate),
            "FRONTDESK_MLLP_TLS_KEY": str(certificate),
            "FRONTDESK_MLLP_CLIENT_CA": str(pki.folder / "ca.pem"),
            "FRONTDESK_MLLP_CRL": str(pki.revocation_list(pki.issue("revoked", uris=("urn:frontdesk:clinic:*",)))),
        }
    )
    replica.start()
    try:
        yield port
    finally:
        replica.stop()


async def test_tls_takes_only_certified_senders_each_for_its_clinics(
    stack: LocalStack, running: dict[str, ServiceProcess], pki: Pki, tls_scheduler: int
) -> None:
    north, south = uid("mllp-north"), uid("mllp-south")
    for clinic_id in (north, south):
        await known_clinic(stack, running["scheduler"], open_around_the_clock(clinic_id, "MLLP Test Clinic"))

    def message(facility: str, filler: str) -> str:
        booking = siu("S12", uid("MSG"), filler, uid("mrn"), "DRLEE", _start(31), "BOOKED")
        return booking.replace("|SCHEDULER|", f"|{facility}|", 1)

    north_only = pki.client(pki.issue("epic-north", uris=(f"urn:frontdesk:clinic:{north}",)))
    both = pki.client(pki.issue("engine", uris=(f"urn:frontdesk:clinic:{north}", f"urn:frontdesk:clinic:{south}")))
    filler_n, filler_s, filler_x = uid("FL"), uid("FL"), uid("FL")
    # The one-clinic sender's messages are its clinic's, whatever MSH-6 says.
    [[_, code, *_]] = await _exchange(tls_scheduler, message("EPIC-FACILITY", filler_n), context=north_only)
    assert code == "AA"
    # A sender of several clinics names one in MSH-6, and only one of its own.
    answers = await _exchange(tls_scheduler, message(south, filler_s), message("elsewhere", filler_x), context=both)
    assert [a[1] for a in answers] == ["AA", "AR"] and "may not send for clinic elsewhere" in answers[1][3]
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT external_id, clinic_id FROM appointments WHERE external_id = ANY($1::text[])",
        [filler_n, filler_s, filler_x],
    )
    assert sorted((r["external_id"], r["clinic_id"]) for r in rows) == sorted([(filler_n, north), (filler_s, south)])
    # No certificate, one from a CA the listener does not trust, or one revoked: no connection at all.
    rogue = pki.issue("rogue", uris=("urn:frontdesk:clinic:*",), by_rogue=True)
    for refused in (pki.client(None), pki.client(rogue), pki.client(pki.folder / "revoked.pem")):
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await _exchange(tls_scheduler, message(north, uid("FL")), context=refused)
