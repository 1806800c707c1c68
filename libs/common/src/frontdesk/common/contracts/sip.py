"""Where a clinic's targets ring on SIP (the phone section's optional `sip`), read by phone-bridge.

The router decides who rings (receptionist, pool, sister clinic, vendor, by id); a SIP proxy needs
an address for each. Every vendor a call may be handed to must have one, so that a hand-over never
reaches a target the proxy cannot ring. Addresses are configuration, not patient data: they name
desks and answering services, never a caller.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from .base import Id, Section

if TYPE_CHECKING:
    from .phone import PhoneSection

# sip: or sips:, an optional user part, a host (name, IPv4 or [IPv6]), an optional port and URI
# parameters; no spaces, no headers (`?`), no display name: what a proxy can put in a Request-URI.
SIP_URI_PATTERN = (
    r"^sips?:([A-Za-z0-9._~+!*'()&=$,;-]+@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(;[A-Za-z0-9._~=-]+)*$"
)
# What a caller dials (the Request-URI's user part) to reach the clinic: a number or a name.
DIALLED_PATTERN = r"^\+?[A-Za-z0-9._-]{1,64}$"


def check_sip_uri(uri: str) -> str:
    if not re.fullmatch(SIP_URI_PATTERN, uri) or len(uri) > 256:
        raise ValueError(
            f"{uri[:128]!r} is not a SIP URI like 'sip:desk-1@pbx.example.org' or 'sip:+15550100@vendor.example'"
        )
    return uri


SipUri = Annotated[
    str, AfterValidator(check_sip_uri), WithJsonSchema({"type": "string", "pattern": SIP_URI_PATTERN, "maxLength": 256})
]
Dialled = Annotated[str, Field(pattern=DIALLED_PATTERN)]


class SipSection(Section):
    """The clinic's SIP addresses: what callers dial, and where each routing target rings."""

    numbers: list[Dialled] = Field(
        default_factory=list, description="Request-URI users that reach this clinic (besides its clinic_id)."
    )
    receptionists: dict[Id, SipUri] = Field(default_factory=dict, description="receptionist_id -> SIP URI")
    pools: dict[Id, SipUri] = Field(
        default_factory=dict, description="Hunt groups (pool_id) and sister clinics (clinic_id) rung as a whole."
    )
    vendors: dict[Id, SipUri] = Field(description="vendor_id -> the answering service's SIP URI")


def sip_problems(phone: PhoneSection) -> list[str]:
    """Why the phone section's `sip` cannot serve its routing (empty: it can)."""
    sip = phone.sip
    if sip is None:
        return []
    problems: list[str] = []
    missing = [v for v in phone.answering_vendors() if v not in sip.vendors]
    if missing:
        problems.append(f"sip.vendors: no SIP URI for vendors {missing} (a call handed to them could not ring)")
    known_vendors = {v.vendor_id for v in phone.effective_vendors()}
    if unknown := sorted(set(sip.vendors) - known_vendors):
        problems.append(f"sip.vendors: {unknown} are not vendors of this clinic")
    if unknown := sorted(set(sip.receptionists) - {r.receptionist_id for r in phone.receptionists}):
        problems.append(f"sip.receptionists: {unknown} are not receptionists of this clinic")
    desks = {p.pool_id for p in phone.effective_pools()} | {s.clinic_id for s in phone.sister_pools}
    if unknown := sorted(set(sip.pools) - desks):
        problems.append(f"sip.pools: {unknown} are neither pools nor sister clinics of this clinic")
    return problems


__all__ = ["SIP_URI_PATTERN", "SipSection", "SipUri", "check_sip_uri", "sip_problems"]
