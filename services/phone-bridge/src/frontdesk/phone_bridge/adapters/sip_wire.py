"""Just enough SIP (RFC 3261) for a redirect server: parse the proxy's requests, build the responses.

The proxy sends the bridge the caller's INVITE (Request-URI: what the caller dialled); the bridge
answers 100 Trying at once, then 302 with one Contact per target to ring (also in `X-Ring-Targets`)
and the ring timeout in `X-Ring-Timeout` (milliseconds), or 480 when nothing is left to ring. The
proxy reports what it saw as MESSAGE requests with an `X-Frontdesk-Event` header (answered,
abandoned, ended).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length"}
REASONS = {
    100: "Trying",
    200: "OK",
    302: "Moved Temporarily",
    400: "Bad Request",
    404: "Not Found",
    480: "Temporarily Unavailable",
    487: "Request Terminated",
    503: "Service Unavailable",
    405: "Method Not Allowed",
}
_USER = re.compile(r"^sips?:([^@;>]+)@")
_URI_IN_ANGLES = re.compile(r"<([^>]*)>")


class SipParseError(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]  # (lower-case full name, value), in order

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n == name), None)

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]

    @property
    def call_id(self) -> str:
        return self.header("call-id") or ""

    @property
    def branch(self) -> str:
        """The top Via's branch: the transaction this request belongs to (CANCEL shares its INVITE's)."""
        via = self.header("via") or ""
        match = re.search(r";\s*branch=([^;,\s]+)", via)
        return match.group(1) if match else ""

    @property
    def dialled(self) -> str:
        return user_of(self.uri) or ""

    @property
    def caller(self) -> str:
        return user_of(self.header("from") or "") or ""


def user_of(uri_or_header: str) -> str | None:
    """The user part of a SIP URI, alone or in a From/To/Contact value."""
    inner = _URI_IN_ANGLES.search(uri_or_header)
    match = _USER.match((inner.group(1) if inner else uri_or_header).strip())
    return match.group(1) if match else None


def uri_in(header: str) -> str:
    """The URI of a From/To/Contact value (inside <...> when there is one)."""
    inner = _URI_IN_ANGLES.search(header)
    return (inner.group(1) if inner else header.split(";", 1)[0]).strip()


def requested_expiry(request: Request, default: int) -> int:
    """How long a REGISTER asks to stay registered (seconds): the Contact's expires parameter, else
    the Expires header, else `default`; 0 unregisters (also `Contact: *`)."""
    contact = request.header("contact") or ""
    match = re.search(r";\s*expires\s*=\s*(\d+)", contact.split(">", 1)[-1] if "<" in contact else contact)
    value = match.group(1) if match else (request.header("expires") or "").strip()
    return int(value) if value.isdigit() else default


def parse_request(data: bytes) -> Request:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("not UTF-8") from exc
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipParseError(f"not a SIP request line: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise SipParseError(f"not a header line: {line[:80]!r}")
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return Request(parts[0], parts[1], tuple(headers))


def response(request: Request, code: int, *, to_tag: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A response to `request`: its Via, From, Call-ID and CSeq; its To with our tag (not on 100)."""
    lines = [f"SIP/2.0 {code} {REASONS.get(code, 'Unknown')}"]
    lines += [f"Via: {via}" for via in request.all("via")]
    to = request.header("to") or ""
    if code > 100 and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines += [f"From: {request.header('from') or ''}", f"To: {to}", f"Call-ID: {request.call_id}"]
    lines += [f"CSeq: {request.header('cseq') or ''}"]
    lines += [f"{name}: {value}" for name, value in extra]
    lines += ["Server: frontdesk-phone-bridge", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def redirect(request: Request, uris: tuple[str, ...], timeout_ms: int, *, to_tag: str) -> bytes:
    """302: ring `uris` at once (one Contact each) for `timeout_ms`."""
    contacts = tuple(("Contact", f"<{uri}>") for uri in uris)
    # The same targets space-separated, for proxies whose scripts read one header more easily than
    # several Contacts (deploy/sip/kamailio.cfg); a SIP URI has no space.
    ring = (("X-Ring-Targets", " ".join(uris)), ("X-Ring-Timeout", str(timeout_ms)))
    return response(request, 302, to_tag=to_tag, extra=(*contacts, *ring))
