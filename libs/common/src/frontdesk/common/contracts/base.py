"""The base of every event contract.

An event is a pydantic model with three class-level facts: its type (which is also its topic), its
schema version, and the field whose value is the record key (the aggregate whose order matters).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, model_validator

# Ids are opaque strings: no spaces, so that free text (a name, a phone number with spaces) cannot
# pass for an id by accident.
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
# RFC 3339 timestamps with an offset; a naive datetime is refused.
Timestamp = AwareDatetime


class Event(BaseModel):
    """Base class for event payloads (the CloudEvents `data`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    key_field: ClassVar[str]
    # The topic (named after event_type): partitions, and compaction for state-carrying topics.
    partitions: ClassVar[int] = 6
    compacted: ClassVar[bool] = False
    # False: no shared topic; the type travels only on per-party topics (contracts/phone.py
    # TOPIC_PATTERNS), e.g. what a vendor writes on its own vendor.<id>.events.
    shared_topic: ClassVar[bool] = True

    def record_key(self) -> str:
        return str(getattr(self, self.key_field))


class Section(BaseModel):
    """Base of the clinic configuration's sections: unknown fields are errors, not ignored typos."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Event):
    """A half-open time window [starts_at, ends_at) carried by an event."""

    starts_at: Timestamp
    ends_at: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self
