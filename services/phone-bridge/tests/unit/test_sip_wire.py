"""The bridge's SIP messages: requests parsed as a proxy sends them, responses a proxy accepts."""

from __future__ import annotations

import pytest

from frontdesk.phone_bridge.adapters import sip_wire

INVITE = (
    b"INVITE sip:+15550100@127.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc.1\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-caller;rport=5060\r\n"
    b"f: <sip:+15551234567@127.0.0.1:5060>;tag=caller\r\n"
    b"To: <sip:+15550100@127.0.0.1:5070>\r\n"
    b"i: 1-2@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Subject: folded\r\n"
    b" continued\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_an_invite_is_parsed_with_compact_headers() -> None:
    request = sip_wire.parse_request(INVITE)
    assert (request.method, request.dialled, request.caller) == ("INVITE", "+15550100", "+15551234567")
    assert request.call_id == "1-2@127.0.0.1" and request.branch == "z9hG4bKabc.1"
    assert request.header("subject") == "folded continued"


def test_a_redirect_names_each_target_and_the_timeout() -> None:
    request = sip_wire.parse_request(INVITE)
    text = sip_wire.redirect(request, ("sip:a@h", "sip:b@h:5062"), 3900, to_tag="t1").decode()
    lines = text.split("\r\n")
    assert lines[0] == "SIP/2.0 302 Moved Temporarily"
    assert [line for line in lines if line.startswith("Via:")] == [
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc.1",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-caller;rport=5060",
    ]
    assert "To: <sip:+15550100@127.0.0.1:5070>;tag=t1" in lines
    assert "Contact: <sip:a@h>" in lines and "Contact: <sip:b@h:5062>" in lines
    assert "X-Ring-Targets: sip:a@h sip:b@h:5062" in lines
    assert "X-Ring-Timeout: 3900" in lines and text.endswith("\r\n\r\n")


def test_trying_has_no_to_tag() -> None:
    text = sip_wire.response(sip_wire.parse_request(INVITE), 100, to_tag="t1").decode()
    assert ";tag=t1" not in text


@pytest.mark.parametrize("data", [b"\xff\xfe", b"HELLO\r\n\r\n", b"INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n"])
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(sip_wire.SipParseError):
        sip_wire.parse_request(data)
