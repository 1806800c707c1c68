"""Receptionists' presence as the bridge knows it, pure: the last status per desk, and desk phones'
SIP registrations.

Presence arrives from agent.status_changed / agent.auto_paused (desk apps, the router) and from the
desk phones' REGISTERs, which the bridge answers as the registrar: a phone that registers makes its
receptionist available, one that unregisters (Expires: 0) or lets its registration expire makes them
offline. Only those transitions change presence; a refresh of a live registration changes nothing (a
receptionist who paused stays paused while the phone stays registered). The latest `changed_at` wins,
so a status that arrives late from the bus never overrides a newer one.

The bridge uses this memory when the router is silent (the broker frozen): it rings the desks it last
knew available, then the vendors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from frontdesk.common.contracts import AgentStatus

MAX_REGISTRATION_SECONDS = 3600  # the longest registration granted; phones refresh before it ends
DEFAULT_REGISTRATION_SECONDS = 3600  # a REGISTER that asks for no particular length
Desk = tuple[str, str]  # (clinic_id, receptionist_id)


@dataclass(frozen=True)
class Presence:
    status: AgentStatus
    changed_at: datetime


@dataclass(frozen=True)
class Change:
    """A presence change the bridge itself saw (a registration): to publish as agent.status_changed."""

    desk: Desk
    status: AgentStatus
    changed_at: datetime


def learn(known: Mapping[Desk, Presence], desk: Desk, presence: Presence) -> dict[Desk, Presence]:
    """`known` with `presence` for `desk`, unless what is known is newer."""
    current = known.get(desk)
    if current is not None and current.changed_at > presence.changed_at:
        return dict(known)
    return {**known, desk: presence}


def register(
    registered: Mapping[Desk, datetime], desks: Iterable[Desk], expires_seconds: int, now: datetime
) -> tuple[dict[Desk, datetime], list[Change]]:
    """A REGISTER for these desks (one phone may stand for a receptionist of several clinics): the
    registrations (desk -> expiry) after it and the presence changes it makes."""
    after = dict(registered)
    changes: list[Change] = []
    for desk in desks:
        was = desk in after and after[desk] > now
        if expires_seconds <= 0:
            after.pop(desk, None)
            if was:
                changes.append(Change(desk, "offline", now))
            continue
        after[desk] = now + timedelta(seconds=min(expires_seconds, MAX_REGISTRATION_SECONDS))
        if not was:
            changes.append(Change(desk, "available", now))
    return after, changes


def expire(registered: Mapping[Desk, datetime], now: datetime) -> tuple[dict[Desk, datetime], list[Change]]:
    """The registrations still live at `now`, and an offline change for each that ran out."""
    gone = sorted(desk for desk, until in registered.items() if until <= now)
    return {d: u for d, u in registered.items() if u > now}, [Change(d, "offline", registered[d]) for d in gone]


def available(known: Mapping[Desk, Presence], clinic_id: str, on_call: Iterable[str] = ()) -> list[str]:
    """The clinic's receptionists last known available and not on a call the bridge put through, the
    longest idle first (the router's default strategy)."""
    busy = set(on_call)
    idle = [
        (p.changed_at, rid)
        for (cid, rid), p in known.items()
        if cid == clinic_id and p.status == "available" and rid not in busy
    ]
    return [rid for _, rid in sorted(idle)]
