"""What today's schedule and the no-show rate show, from an appointment's known facts (no I/O).

An appointment's status follows from its facts, whatever order they arrived in: completed (the
visit finished), no-show (or left without a visit), checked in, cancelled, or booked. The no-show
rate of a period = no-shows / appointments of the period whose outcome is known (checked in,
completed or no-show; cancelled ones and those still only booked do not count). A hold is a slot
held until it expires; the schedule lists those still held, the soonest to lapse first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import ClinicConfig

from .board import local_day

Status = Literal["booked", "checked_in", "completed", "no_show", "cancelled"]
STATUSES: tuple[Status, ...] = ("booked", "checked_in", "completed", "no_show", "cancelled")


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    provider_id: str | None
    appointment_type: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    rescheduled: bool = False
    cancelled_at: datetime | None = None
    late_cancel: bool | None = None
    checked_in_at: datetime | None = None
    no_show: str | None = None
    completed_at: datetime | None = None

    @property
    def status(self) -> Status:
        if self.completed_at is not None:
            return "completed"
        if self.no_show is not None:
            return "no_show"
        if self.checked_in_at is not None:
            return "checked_in"
        if self.cancelled_at is not None:
            return "cancelled"
        return "booked"

    def late(self, now: datetime) -> bool:
        """Booked, its start passed, and nobody checked in (yet): the desk may want to call."""
        return self.status == "booked" and self.starts_at is not None and self.starts_at < now


SOON = timedelta(minutes=1)  # a hold this close to lapsing is flagged


@dataclass(frozen=True)
class Hold:
    """A slot held for a patient until `expires_at` (confirmed, it becomes a booked appointment)."""

    appointment_id: str
    provider_id: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    held_at: datetime
    expires_at: datetime

    def seconds_left(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds()))

    def expiring_soon(self, now: datetime) -> bool:
        return self.expires_at - now <= SOON


@dataclass
class ProviderDay:
    provider_id: str
    appointments: list[Appointment] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for a in self.appointments if a.status == status)


@dataclass(frozen=True)
class KeptZones:
    """The zone each provider's appointments are kept in (ClinicConfig.zone_of, the one rule): a page
    tells an appointment's time there, and names that zone where it is not the clinic's, so the
    Kathmandu location's 09:00 reads 09:00 at a New York clinic's desk and is not misread."""

    clinic: str
    elsewhere: Mapping[str, str] = field(default_factory=dict)  # provider -> zone, other than the clinic's

    @classmethod
    def of_clinic(cls, clinic: ClinicConfig) -> KeptZones:
        kept = {p.provider_id: clinic.zone_of(p.provider_id).key for p in clinic.providers}
        return cls(clinic.timezone, {p: key for p, key in kept.items() if key != clinic.timezone})

    def of(self, provider_id: str | None) -> str:
        return self.elsewhere.get(provider_id or "", self.clinic)

    def differs(self, provider_id: str | None) -> bool:
        return self.of(provider_id) != self.clinic

    def today(self, provider_id: str | None, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.of(provider_id))).date()

    def todays_span(self, now: datetime) -> tuple[datetime, datetime]:
        """From the first zone's midnight to the last zone's: every provider's today is inside."""
        days = [local_day(now, ZoneInfo(key)) for key in {self.clinic, *self.elsewhere.values()}]
        return min(start for _, start, _ in days), max(end for _, _, end in days)

    def is_today(self, appointment: Appointment, now: datetime) -> bool:
        """Whether it starts on its provider's today, in the zone it is kept in."""
        _, start, end = local_day(now, ZoneInfo(self.of(appointment.provider_id)))
        return appointment.starts_at is not None and start <= appointment.starts_at < end


def by_provider(appointments: Iterable[Appointment]) -> list[ProviderDay]:
    """The day's appointments per provider (by provider id), each provider's in start order."""
    days: dict[str, ProviderDay] = {}
    for appointment in appointments:
        provider = appointment.provider_id or "unknown provider"
        days.setdefault(provider, ProviderDay(provider)).appointments.append(appointment)
    for day in days.values():
        day.appointments.sort(key=lambda a: (a.starts_at is None, a.starts_at or datetime.min, a.appointment_id))
    return [days[p] for p in sorted(days)]


def no_show_rate(appointments: Iterable[Appointment]) -> tuple[int, int, float | None]:
    """(no-shows, appointments with a known outcome, rate)."""
    held = [a for a in appointments if a.status != "cancelled" and a.status != "booked"]
    missed = sum(1 for a in held if a.status == "no_show")
    return missed, len(held), (missed / len(held) if held else None)
