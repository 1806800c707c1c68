"""The next open times of one provider for one appointment type: what the patients' pages propose
(a reschedule, the alternatives to a waitlist offer that was taken)."""

from __future__ import annotations

from datetime import datetime, timedelta

from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection

from .adapters import repository
from .adapters.clinics import clinic_of
from .domain import booking as booking_rules
from .domain.slots import Interval, SlotRules, generate_slots

CHOICES = 6


async def next_open_times(
    conn: Connection, clinic_id: str, provider_id: str, appointment_type: str, length: timedelta, search: Interval
) -> list[Interval]:
    """Up to CHOICES free windows of `length` in `search`, soonest first (none for an unknown clinic
    or provider)."""
    clinic = await clinic_of(conn, clinic_id)
    provider = booking_rules.find_provider(clinic, provider_id) if clinic else None
    if clinic is None or provider is None or search.end <= search.start:
        return []
    rules = booking_rules.rules_for(clinic, provider, booking_rules.find_type(clinic, appointment_type), length)
    return await free_slots(conn, provider, rules, search, search.start, limit=CHOICES)


async def free_slots(
    conn: Connection, provider: Provider, rules: SlotRules, window: Interval, now: datetime, limit: int | None = None
) -> list[Interval]:
    """The provider's free slots of `rules` inside `window`, in time order (generate_slots), against
    everything that occupies the provider there: bookings and blocks, and the provider's exceptions.

    A slot inside the window keeps its buffers clear, so the bookings and blocks read are those that
    overlap the window widened by the buffers; stored bookings carry their own buffers already."""
    reach = Interval(window.start - rules.buffer_before, window.end + rules.buffer_after)
    busy = await repository.busy(conn, provider.provider_id, reach) + booking_rules.exception_intervals(provider)
    return generate_slots(rules, window, busy, now, limit=limit)
