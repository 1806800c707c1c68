"""scheduler's MLLP listener: HL7 v2 from an EHR's interface engine over TCP, the transport they speak.

A connection carries frames (0x0B, the message, 0x1C 0x0D), one at a time. Each message is applied as
`POST /v1/hl7/{clinic_id}` applies it (hl7.receive: the same deduplication on MSH-10, quarantine and
ACK), recorded in the audit trail, and its ACK framed back on the same connection.

Who may send: outside the local stack the listener speaks TLS only and requires a client certificate
signed by the configured CA. The certificate names the clinics its holder may send for, as a token's
claims do over HTTP: URIs `urn:frontdesk:clinic:<clinic_id>` in its subjectAltName
(`urn:frontdesk:clinic:*` for every clinic of the network). A message is for the certificate's one
clinic; a sender of several clinics names the clinic in MSH-6 (receiving facility). On the local
stack the listener may be plain TCP on loopback, every sender network-wide.

A message the database could not take (an outage) gets no ACK: the connection closes and the sender
sends it again, as MLLP senders do (MSH-10 makes a repeat harmless).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common import audit
from frontdesk.common.auth import ALL_CLINICS, WRITE, Principal
from frontdesk.common.db import TRANSIENT_DB_ERRORS
from frontdesk.common.logging import get_logger
from frontdesk.common.service import ServiceRuntime
from frontdesk.common.settings import LOOPBACK_HOSTS, ServiceSettings

from ..adapters import hl7v2
from ..adapters.hl7_ack import Answer, ack
from ..adapters.hl7v2 import ErrorCode
from ..hl7 import receive

log = get_logger(__name__)

START, END = b"\x0b", b"\x1c\x0d"
MAX_MESSAGE = 256_000  # bytes, as over HTTP
FRAME_SECONDS = 60.0  # a frame begun must end within this (a sender that stalls mid-message is cut)
MAX_CONNECTIONS = 64
CLINIC_URI = "urn:frontdesk:clinic:"
SERVICE = "scheduler"
LOCAL_SENDER = Principal("mllp:local-stack", None, frozenset({WRITE}))


class MissingMllpSettings(RuntimeError):
    pass


class MllpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_MLLP_", extra="ignore")

    port: int | None = Field(None, ge=1, le=65535)  # none: no listener
    host: str = "127.0.0.1"
    tls_cert: Path | None = None  # the listener's certificate chain (PEM)
    tls_key: Path | None = None
    client_ca: Path | None = None  # the CA that signs the senders' certificates (PEM)
    crl: Path | None = None  # that CA's revocation list (PEM): certificates no longer accepted

    def tls(self) -> bool:
        return any((self.tls_cert, self.tls_key, self.client_ca))


def resolve(settings: MllpSettings, service: ServiceSettings) -> MllpSettings:
    """The listener's settings, checked: TLS with client certificates, or plain TCP on loopback on the
    local stack only; else MissingMllpSettings (the service refuses to start)."""
    if settings.port is None:
        return settings
    if settings.tls():
        if not (settings.tls_cert and settings.tls_key and settings.client_ca):
            raise MissingMllpSettings("FRONTDESK_MLLP_TLS_CERT, _TLS_KEY and _CLIENT_CA go together")
        return settings
    if not service.is_local_stack() or settings.host not in LOOPBACK_HOSTS:
        raise MissingMllpSettings(
            "FRONTDESK_MLLP_PORT outside the local stack (or off loopback) needs TLS: set"
            " FRONTDESK_MLLP_TLS_CERT, FRONTDESK_MLLP_TLS_KEY and FRONTDESK_MLLP_CLIENT_CA"
        )
    return settings


@cache
def current() -> MllpSettings:
    return resolve(MllpSettings(), ServiceSettings.for_service(SERVICE))


def server_context(settings: MllpSettings) -> ssl.SSLContext:
    """TLS 1.2 or later; the sender must present a certificate the configured CA signed and (with a
    revocation list) did not revoke."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(settings.client_ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.crl is not None:
        context.load_verify_locations(cafile=str(settings.crl))
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    return context


def sender_of(certificate: dict[str, Any]) -> Principal:
    """The sender a verified client certificate names: its common name, and its clinics."""
    names = [value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"]
    uris = [value for kind, value in certificate.get("subjectAltName", ()) if kind == "URI"]
    clinics = {uri.removeprefix(CLINIC_URI) for uri in uris if uri.startswith(CLINIC_URI)}
    return Principal(
        subject=f"mllp:{names[0] if names else 'unnamed'}",
        clinics=None if ALL_CLINICS in clinics else frozenset(clinics),
        scopes=frozenset({WRITE}),
    )


def clinic_for(sender: Principal, facility: str | None) -> tuple[str | None, str | None]:
    """(the clinic a message addressed to `facility` (MSH-6) is for, None) or (None, why the sender may
    not send it)."""
    if sender.clinics is not None and len(sender.clinics) == 1:
        return next(iter(sender.clinics)), None
    if not facility:
        return None, "MSH-6 (receiving facility) must name the clinic: this sender may send for several"
    if not sender.can_see(facility):
        return None, f"this sender may not send for clinic {facility}"
    return facility, None


async def frames(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The messages a connection carries, until it closes. Bytes between frames are skipped; a frame
    over MAX_MESSAGE or stalled FRAME_SECONDS ends the connection (LimitOverrunError, TimeoutError)."""
    while True:
        try:
            await reader.readuntil(START)
            framed = await asyncio.wait_for(reader.readuntil(END), FRAME_SECONDS)
        except asyncio.IncompleteReadError:
            return
        yield framed[: -len(END)]


async def answer(runtime: ServiceRuntime, sender: Principal, text: str) -> str | None:
    """The ACK for one message, once applied and audited; None if the database could not take it."""
    ids = hl7v2.header_ids(text)
    clinic_id, refusal = clinic_for(sender, ids.receiving_facility)
    try:
        if clinic_id is None:  # MSH-6 names no clinic, or one not in the certificate's
            error = ErrorCode.TABLE_VALUE_NOT_FOUND if ids.receiving_facility else ErrorCode.REQUIRED_FIELD_MISSING
            reply = ack(text, Answer("AR", refusal or "", error, "MSH-6"))
        else:
            reply = await _apply(runtime, clinic_id, text)
        assert runtime.pool is not None
        resource = {"control_id": audit.storable(ids.control_id or "")}
        status = 403 if refusal else 200
        await audit.write(runtime.pool, SERVICE, sender.subject, "change", "MLLP", "mllp", resource, clinic_id, status)
    except TRANSIENT_DB_ERRORS as exc:
        log.warning("hl7 message not applied; no ACK, the sender resends", error=type(exc).__name__)
        return None
    return reply


async def _apply(runtime: ServiceRuntime, clinic_id: str, text: str) -> str:
    """hl7.receive in a unit of work. A failure that is not the database's is answered AR: sent
    again, the message would fail again, and an interface engine waits for its ACK before the next."""
    try:
        async with runtime.unit_of_work() as uow:
            return await receive(uow, clinic_id, text)
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception:
        log.exception("hl7 message failed")
        return ack(text, Answer("AR", "not applied: an internal error, logged by the scheduler", ErrorCode.INTERNAL))


class Listener:
    """The accepted connections, each served one message at a time."""

    def __init__(self, runtime: ServiceRuntime, tls: bool) -> None:
        self._runtime = runtime
        self._tls = tls
        self._connections: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._connections.add(writer)
        sender = sender_of(writer.get_extra_info("peercert") or {}) if self._tls else LOCAL_SENDER
        try:
            async for frame in frames(reader):
                text, codec = hl7v2.decode(frame)  # as MSH-18 says; the ACK goes back in the same
                reply = await answer(self._runtime, sender, text)
                if reply is None or writer.is_closing():
                    break
                writer.write(START + reply.encode(codec, errors="replace") + END)
                await writer.drain()
        except (asyncio.LimitOverrunError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            log.warning("mllp connection ended", sender=sender.subject, reason=type(exc).__name__)
        finally:
            self._connections.discard(writer)
            writer.close()

    def close(self) -> None:
        """At shutdown: end every connection (a message being applied gets no ACK; its sender sends it
        again, to another replica)."""
        for writer in self._connections:
            writer.close()


async def listen(runtime: ServiceRuntime) -> None:
    """The MLLP listener, if FRONTDESK_MLLP_PORT is set; runs until the service stops."""
    settings = current()
    if settings.port is None:
        return
    context = server_context(settings) if settings.tls() else None
    listener = Listener(runtime, tls=context is not None)
    try:
        server = await asyncio.start_server(
            listener.serve, settings.host, settings.port, ssl=context, limit=MAX_MESSAGE + len(END)
        )
    except OSError as exc:  # the port is taken: said once, loudly, rather than as a task's lost exception
        log.error("mllp listener not started", host=settings.host, port=settings.port, error=str(exc))
        raise
    log.info("mllp listening", host=settings.host, port=settings.port, tls=context is not None)
    try:
        await server.serve_forever()
    finally:
        server.close()
        listener.close()
