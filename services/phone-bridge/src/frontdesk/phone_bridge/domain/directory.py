"""A clinic's SIP addresses and vendor answer targets, as the bridge needs them on the call path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frontdesk.common.contracts import ClinicConfig

if TYPE_CHECKING:
    from .calls import Target


@dataclass(frozen=True)
class Directory:
    clinic_id: str
    numbers: frozenset[str]  # what callers dial to reach the clinic (its clinic_id too)
    uris: dict[tuple[str, str], str]  # (target kind, target id) -> SIP URI
    vendor_ids: tuple[str, ...]  # the vendors a call may be handed to, primary first
    answer_targets: dict[str, float]
    desk_aors: dict[str, str] = field(default_factory=dict)  # a desk phone's address of record -> receptionist_id
    desks_ring_seconds: float = 0.0  # with the router silent, desks ring this long from the call's arrival

    def uri(self, target: Target) -> str | None:
        return self.uris.get((target.kind, target.target_id))

    def answer_target(self, vendor_id: str) -> float:
        return self.answer_targets.get(vendor_id, 0.0)


_URI = re.compile(r"^sips?:(?:([^@;>?]+)@)?([^:;>?]+)")


def aor(uri: str) -> str | None:
    """A SIP URI's address of record, `user@host` (host lower-case, no port, no parameters): what a
    desk phone's REGISTER names in its To header, matched against the clinic's receptionist URIs."""
    match = _URI.match(uri.strip())
    if match is None or not match.group(1):
        return None
    return f"{match.group(1)}@{match.group(2).lower()}"


def directory(config: ClinicConfig) -> Directory | None:
    """The clinic's directory, or None when it has no SIP section (the bridge cannot ring it)."""
    phone = config.phone
    sip = phone.sip
    if sip is None:
        return None
    uris: dict[tuple[str, str], str] = {("receptionist", r): u for r, u in sip.receptionists.items()}
    uris |= {("answering_service", v): u for v, u in sip.vendors.items()}
    pools = {p.pool_id for p in phone.effective_pools()}
    for desk, uri in sip.pools.items():
        uris[("pool" if desk in pools else "sister_clinic", desk)] = uri
    vendors = tuple(phone.answering_vendors())
    return Directory(
        clinic_id=config.clinic_id,
        numbers=frozenset([config.clinic_id, *sip.numbers]),
        uris=uris,
        vendor_ids=vendors,
        answer_targets={v: phone.vendor(v).answer_target_seconds for v in vendors},
        desk_aors={a: r for r, u in sip.receptionists.items() if (a := aor(u)) is not None},
        desks_ring_seconds=phone.ring_budget_seconds - phone.handoff_lead_seconds,
    )
