"""The bridge's SIP socket (UDP): a redirect server for the proxy's routing questions, and its reports.

An INVITE gets 100 Trying at once (the proxy then stops retransmitting), then 302/480 when the
switchboard has an answer; the question waits in memory, never holding the socket. A CANCEL of a
question still pending gets 200 and the INVITE 487. A retransmitted INVITE gets the last response
again. MESSAGE reports get 200 (after the switchboard has taken them). A REGISTER of a desk phone (its To
names a receptionist's SIP address) gets 200 with the expiry granted, and makes the receptionist
available (or offline: Expires 0, or no refresh in time); any other address 404. Anything else: 405.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from typing import Any, cast

from frontdesk.common.logging import get_logger

from ..domain.calls import Fallback, Hangup, Ring
from ..domain.directory import aor
from ..domain.presence import DEFAULT_REGISTRATION_SECONDS
from ..switchboard import Question, Switchboard
from . import sip_wire

log = get_logger(__name__)
MAX_TRANSACTIONS = 10_000  # responses kept for retransmissions (a few seconds' worth of calls)
Address = tuple[str, int]


class SipServer(asyncio.DatagramProtocol):
    def __init__(self, switchboard: Switchboard) -> None:
        self._switchboard = switchboard
        self._transport: asyncio.DatagramTransport | None = None
        self._last: OrderedDict[str, bytes] = OrderedDict()  # INVITE branch -> last response sent
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._tag = secrets.token_hex(6)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # keep-alive
        try:
            request = sip_wire.parse_request(data)
        except sip_wire.SipParseError as exc:
            log.info("unparsable SIP datagram dropped", reason=str(exc)[:120])
            return
        match request.method:
            case "INVITE":
                self._invite(request, addr)
            case "CANCEL":
                self._cancel(request, addr)
            case "MESSAGE":
                self._report(request, addr)
            case "REGISTER":
                self._register(request, addr)
            case "ACK":
                pass  # the proxy's ACK of our 302/480/487: nothing to do
            case "OPTIONS":
                self._send(sip_wire.response(request, 200, to_tag=self._tag), addr)
            case _:
                self._send(sip_wire.response(request, 405, to_tag=self._tag), addr)

    def _invite(self, request: sip_wire.Request, addr: Address) -> None:
        key = request.branch
        if key in self._last:  # a retransmission
            self._send(self._last[key], addr)
            return
        self._respond(key, sip_wire.response(request, 100, to_tag=self._tag), addr)
        question = Question(request.call_id, request.dialled, request.caller, _status(request.header("x-ring-refused")))
        task = asyncio.create_task(self._answer(key, request, question, addr))
        self._pending[key] = task
        task.add_done_callback(lambda _: self._pending.pop(key, None))

    async def _answer(self, key: str, request: sip_wire.Request, question: Question, addr: Address) -> None:
        try:
            answer = await self._switchboard.route(question)
        except Exception:  # a bug must not leave the caller in silence: the proxy falls back on 500
            log.exception("routing question failed")
            self._respond(key, sip_wire.response(request, 480, to_tag=self._tag), addr)
            return
        if isinstance(answer, Ring):
            timeout_ms = max(int(answer.timeout_seconds * 1000), 1)
            self._respond(key, sip_wire.redirect(request, answer.uris, timeout_ms, to_tag=self._tag), addr)
        elif isinstance(answer, Fallback):
            # Any final answer but 302 and 480 sends the proxy to its fallback answering service.
            status = 404 if answer.reason == "unknown_number" else 503
            self._respond(key, sip_wire.response(request, status, to_tag=self._tag), addr)
        else:
            assert isinstance(answer, Hangup)
            self._respond(key, sip_wire.response(request, 480, to_tag=self._tag), addr)

    def _cancel(self, request: sip_wire.Request, addr: Address) -> None:
        self._send(sip_wire.response(request, 200, to_tag=self._tag), addr)
        task = self._pending.pop(request.branch, None)
        if task is not None:
            task.cancel()
            invite = sip_wire.Request("INVITE", request.uri, _as_invite(request.headers))
            self._respond(request.branch, sip_wire.response(invite, 487, to_tag=self._tag), addr)

    def _report(self, request: sip_wire.Request, addr: Address) -> None:
        kind = request.header("x-frontdesk-event")
        sip_call_id = request.header("x-frontdesk-call-id") or ""
        if kind == "answered":
            self._switchboard.answered(sip_call_id, request.header("x-frontdesk-uri"))
        elif kind == "abandoned":
            self._switchboard.abandoned(sip_call_id)
        elif kind == "ended":
            self._switchboard.ended(sip_call_id)
        else:
            self._send(sip_wire.response(request, 400, to_tag=self._tag), addr)
            return
        self._send(sip_wire.response(request, 200, to_tag=self._tag), addr)

    def _register(self, request: sip_wire.Request, addr: Address) -> None:
        """A desk phone registers (relayed by the proxy): the bridge is its registrar for presence."""
        address = aor(sip_wire.uri_in(request.header("to") or ""))
        asked = sip_wire.requested_expiry(request, DEFAULT_REGISTRATION_SECONDS)
        granted = None if address is None else self._switchboard.registered(address, asked)
        if granted is None:
            self._send(sip_wire.response(request, 404, to_tag=self._tag), addr)
            return
        extra: tuple[tuple[str, str], ...] = (("Expires", str(granted)),)
        contact = request.header("contact") or ""
        if granted > 0 and contact.strip() != "*":
            extra = (("Contact", f"<{sip_wire.uri_in(contact)}>;expires={granted}"), *extra)
        self._send(sip_wire.response(request, 200, to_tag=self._tag, extra=extra), addr)

    def _respond(self, key: str, data: bytes, addr: Address) -> None:
        self._last[key] = data
        self._last.move_to_end(key)
        while len(self._last) > MAX_TRANSACTIONS:
            self._last.popitem(last=False)
        self._send(data, addr)

    def _send(self, data: bytes, addr: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.info("SIP socket error", error=repr(exc)[:200])


def _status(header: str | None) -> int | None:
    """X-Ring-Refused: the SIP status the targets the proxy rang failed with before their timeout."""
    value = (header or "").strip()
    return int(value) if value.isdigit() and 300 <= int(value) < 700 else None


def _as_invite(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """A CANCEL's headers as its INVITE's (same Via, From, To, Call-ID; CSeq method INVITE)."""
    return tuple((n, v.replace("CANCEL", "INVITE") if n == "cseq" else v) for n, v in headers)


async def serve(switchboard: Switchboard, host: str, port: int) -> tuple[asyncio.DatagramTransport, Any]:
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(lambda: SipServer(switchboard), local_addr=(host, port))
