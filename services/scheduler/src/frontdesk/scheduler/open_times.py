"""The next open times of one provider for one appointment type: what the patients' pages propose
(a reschedule, the alternatives to a waitlist offer that was taken)."""

from __future__ import annotations

from datetime import timedelta

from frontdesk.common.db import Connection

from .adapters import repository
from .adapters.clinics import clinic_of
from .domain import booking as booking_rules
from .domain.slots import Interval, generate_slots

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
    busy = await repository.busy(conn, provider_id, Interval(search.start - timedelta(hours=8), search.end))
    busy += booking_rules.exception_intervals(provider)
    return generate_slots(rules, search, busy, search.start, limit=CHOICES)
