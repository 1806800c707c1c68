"""The bridge's SIP socket on loopback: 100 at once, 302 when the router decides, 487 after a CANCEL,
the last response again for a retransmission, 200 for reports."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from frontdesk.common.contracts import AgentStatusChanged, CallOverflowed
from frontdesk.phone_bridge.adapters import sip_server
from frontdesk.phone_bridge.domain.calls import call_id_for
from frontdesk.phone_bridge.switchboard import Switchboard

from .clinics import clinic


def _request(method: str, branch: str = "z9hG4bK-1", cseq: str = "1 INVITE", extra: str = "") -> bytes:
    return (
        f"{method} sip:c1@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        "From: <sip:+15551234567@127.0.0.1>;tag=a\r\nTo: <sip:c1@127.0.0.1>\r\n"
        f"Call-ID: call-1@test\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


async def _serve(board: Switchboard) -> tuple[asyncio.DatagramTransport, socket.socket, tuple[str, int]]:
    transport, _ = await sip_server.serve(board, "127.0.0.1", 0)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setblocking(False)
    return transport, client, transport.get_extra_info("sockname")


async def _receive(client: socket.socket) -> str:
    loop = asyncio.get_running_loop()
    return (await asyncio.wait_for(loop.sock_recv(client, 4096), 2)).decode()


def _board() -> Switchboard:
    board = Switchboard(lambda e, i: None, caller_key=b"k" * 32, router_wait_seconds=5, clock=lambda: datetime.now(UTC))
    board.learn_clinic(clinic())
    return board


async def test_trying_then_the_routers_decision_as_a_redirect_and_again_on_retransmission() -> None:
    board = _board()
    transport, client, address = await _serve(board)
    try:
        client.sendto(_request("INVITE"), address)
        assert (await _receive(client)).startswith("SIP/2.0 100 Trying")
        now = datetime.now(UTC)
        board.router_decided(
            CallOverflowed(
                call_id=call_id_for("call-1@test"),
                clinic_id="c1",
                vendor_id="va",
                reason="after_hours",
                overflowed_at=now,
                answer_by=now.replace(year=now.year + 1),
                caller_token="t",
            )
        )
        redirect = await _receive(client)
        assert redirect.startswith("SIP/2.0 302") and "X-Ring-Targets: sip:va@127.0.0.1:5091" in redirect
        client.sendto(_request("INVITE"), address)  # retransmitted: the same answer, no new question
        assert await _receive(client) == redirect
        report = "X-Frontdesk-Event: answered\r\nX-Frontdesk-Call-ID: call-1@test\r\n"
        client.sendto(_request("MESSAGE", "z9hG4bK-r", "1 MESSAGE", report), address)
        assert (await _receive(client)).startswith("SIP/2.0 200")
    finally:
        transport.close()
        client.close()


async def test_a_cancelled_question_gets_200_and_487() -> None:
    transport, client, address = await _serve(_board())
    try:
        client.sendto(_request("INVITE", "z9hG4bK-2"), address)
        assert (await _receive(client)).startswith("SIP/2.0 100")
        client.sendto(_request("CANCEL", "z9hG4bK-2", "1 CANCEL"), address)
        assert (await _receive(client)).startswith("SIP/2.0 200")
        terminated = await _receive(client)
        assert terminated.startswith("SIP/2.0 487") and "CSeq: 1 INVITE" in terminated
    finally:
        transport.close()
        client.close()


def _register(to: str, contact: str, expires: str = "", branch: str = "z9hG4bK-reg") -> bytes:
    return (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        f"From: <{to}>;tag=p\r\nTo: <{to}>\r\nCall-ID: reg-1@test\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: {contact}\r\n{expires}Content-Length: 0\r\n\r\n"
    ).encode()


async def test_a_desk_phone_registers_and_unregisters_and_an_unknown_one_is_not_found() -> None:
    published: list[object] = []
    board = Switchboard(
        lambda e, i: published.append(e), caller_key=b"k" * 32, router_wait_seconds=5, clock=lambda: datetime.now(UTC)
    )
    board.learn_clinic(clinic())
    transport, client, address = await _serve(board)
    try:
        client.sendto(_register("sip:r1@127.0.0.1", "<sip:r1@127.0.0.1:6000>;expires=30"), address)
        ok = await _receive(client)
        assert ok.startswith("SIP/2.0 200") and "Expires: 30" in ok and "<sip:r1@127.0.0.1:6000>;expires=30" in ok
        client.sendto(_register("sip:r1@127.0.0.1", "*", "Expires: 0\r\n", "z9hG4bK-unreg"), address)
        assert "Expires: 0" in await _receive(client)
        client.sendto(_register("sip:nobody@127.0.0.1", "<sip:nobody@127.0.0.1:6001>"), address)
        assert (await _receive(client)).startswith("SIP/2.0 404")
    finally:
        transport.close()
        client.close()
    statuses = [(e.receptionist_id, e.status) for e in published if isinstance(e, AgentStatusChanged)]
    assert statuses == [("r1", "available"), ("r1", "offline")]
