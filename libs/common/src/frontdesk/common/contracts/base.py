"""The base of every event contract.

An event is a pydantic model with three class-level facts: its type (which is also its topic), its
schema version, and the field whose value is the record key (the aggregate whose order matters).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

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

    def record_key(self) -> str:
        return str(getattr(self, self.key_field))
