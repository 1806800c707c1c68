"""`clinic.configured`: a clinic's whole configuration document, published on a compacted topic.

The document carries the clinic's identity, time zone, hours and closures, and one section per
service. Each service issue adds the fields its section needs; unknown fields are refused so that a
typo in a YAML file is an error, not a silently ignored setting.
"""

from __future__ import annotations

from datetime import date, time
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from . import clock
from .base import Event, Id, Section
from .followup import MessagingSection
from .phone import PhoneSection
from .phone_checks import budget_problems
from .reviews import ReviewsSection
from .scheduling import Provider, SchedulingSection

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OpeningInterval(Section):
    """One opening interval of a day, local time, half-open [opens, closes). Closes 24:00 (or 00:00) is
    the midnight that ends the day: 00:00-24:00 is the whole day."""

    opens: time
    closes: time

    @field_validator("closes", mode="before")
    @classmethod
    def _end_of_day(cls, value: object) -> object:
        return clock.end_of_day(value)

    @model_validator(mode="after")
    def _ordered(self) -> OpeningInterval:
        clock.check_order(self.opens, self.closes, ("opens", "closes"))
        return self

    @classmethod
    def parse(cls, text: str) -> OpeningInterval:
        opens, closes = clock.parse_range(text, "opening interval")
        return cls(opens=opens, closes=closes)

    def covers(self, at: time) -> bool:
        return clock.covers(self.opens, self.closes, at)


class ClinicConfig(Section):
    """The configuration document of one clinic."""

    clinic_id: Id
    name: str = Field(min_length=1, max_length=200)
    timezone: str
    hours: dict[Weekday, list[OpeningInterval]] = Field(default_factory=dict)
    closures: list[date] = Field(default_factory=list)
    # One section per service; each is defined (and grown) in its domain's contracts module.
    phone: PhoneSection
    providers: list[Provider] = Field(default_factory=list)
    scheduling: SchedulingSection = Field(default_factory=SchedulingSection)
    messaging: MessagingSection = Field(default_factory=MessagingSection)
    reviews: ReviewsSection = Field(default_factory=ReviewsSection)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder name ("America") with tzdata installed
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _parse_hours(cls, value: object) -> object:
        # YAML writes hours as {"mon": ["08:00-12:00", "13:00-17:00"]}; accept that short form.
        if isinstance(value, dict):
            return {
                day: [OpeningInterval.parse(i) if isinstance(i, str) else i for i in intervals or []]
                for day, intervals in value.items()
            }
        return value

    @model_validator(mode="after")
    def _answered_within_budget(self) -> ClinicConfig:
        # Here rather than in PhoneSection, so that the message names the clinic wherever it is read.
        problems = budget_problems(self.phone)
        if problems:
            raise ValueError(
                f"clinic {self.clinic_id}: the call chain cannot reach a live human within the ring budget: "
                + "; ".join(problems)
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def zone_of(self, provider_id: str) -> ZoneInfo:
        """The zone a provider's day is kept in: their own, else their location's, else the clinic's.
        Their templates are read in it, so their appointments are told to patients in it too."""
        for provider in self.providers:
            if provider.provider_id == provider_id:
                if provider.timezone:
                    return ZoneInfo(provider.timezone)
                for location in self.scheduling.locations:
                    if location.location_id == provider.location_id and location.timezone:
                        return ZoneInfo(location.timezone)
        return self.zone

    def zones(self) -> tuple[ZoneInfo, ...]:
        """Every zone the clinic keeps a day in, its own first: a patient whose zone is not on file may
        live by any of them."""
        keys = [self.timezone]
        keys += [location.timezone for location in self.scheduling.locations if location.timezone]
        keys += [self.zone_of(provider.provider_id).key for provider in self.providers]
        return tuple(ZoneInfo(key) for key in dict.fromkeys(keys))


class ClinicConfigured(Event):
    event_type: ClassVar[str] = "clinic.configured"
    key_field: ClassVar[str] = "clinic_id"
    partitions: ClassVar[int] = 3
    compacted: ClassVar[bool] = True

    clinic_id: Id
    config: ClinicConfig

    @model_validator(mode="after")
    def _same_clinic(self) -> ClinicConfigured:
        if self.config.clinic_id != self.clinic_id:
            raise ValueError("clinic_id differs from config.clinic_id")
        return self


__all__ = [
    "WEEKDAYS",
    "ClinicConfig",
    "ClinicConfigured",
    "OpeningInterval",
    "Weekday",
]
