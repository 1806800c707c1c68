"""The waitlist as scheduler stores it: patients waiting for a time, and the offers of freed slots."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .slots import Interval


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    """A `waitlist` row: a patient waiting for a time of a type (and provider) within a window."""

    waitlist_id: str
    clinic_id: str
    patient_id: str
    appointment_type: str
    provider_id: str | None  # None: any provider who offers the type
    window_start: datetime
    window_end: datetime
    priority: int
    status: str  # waiting, booked, lapsed, withdrawn
    appointment_id: str | None  # what it was booked into
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The entry as the API answers it (times as ISO 8601 text)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class WaitlistOffer:
    """A `waitlist_offers` row: a freed slot offered to one waiting entry, in a batch."""

    offer_id: str
    batch_id: str
    waitlist_id: str
    clinic_id: str
    provider_id: str
    appointment_type: str
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
    status: str  # open, accepted, taken, expired
    appointment_id: str | None  # the hold it became, once accepted
    created_at: datetime

    @property
    def slot(self) -> Interval:
        return Interval(self.starts_at, self.ends_at)
