"""The clinic directory: each service's own projection of the compacted `clinic.configured` topic.

Every service subscribes to `clinic.configured` through `project_clinic` and reads its clinics from
its own table, through this module only; no service asks another for configuration. A row's
`event_id` is its version: the parsed configuration is kept per clinic while the version is the same,
so a read is one small round trip (the version, and the document only when it changed), and none
when the caller already read the version under its own lock (`clinic_at`).

The newest configuration wins, whatever the order the records are read in: each row keeps its
event's CloudEvents time (`configured_at`) and an older one is ignored. A stale record can come after
a newer one when partitions are added to `clinic.configured` (the key moves to another partition, and
compaction never removes the old record from its old one, so a consumer replaying the topic reads
both, in either order). `frontdesk apply` stamps each change later than the live one, so an operator's
clock running behind never makes a new configuration look older.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from .contracts import ClinicConfig, ClinicConfigured
from .db import Connection
from .uow import UnitOfWork

# Parsed configurations by clinic, with the version (projection event_id) they were parsed at.
_parsed: dict[str, tuple[str, ClinicConfig]] = {}
# The version, and the document only if it is not the version the caller already has ($2).
_READ = (
    "SELECT event_id, CASE WHEN event_id IS DISTINCT FROM $2 THEN config END AS config"
    " FROM clinics WHERE clinic_id = $1"
)


async def project_clinic(event: ClinicConfigured, uow: UnitOfWork) -> None:
    """Make the event the clinic's configuration, unless the projection holds a newer one (an older
    record read after a newer one is left out)."""
    # The event's id is the version; a write with no event behind it still gets a version of its own.
    version = uow.cause.id if uow.cause else str(uuid.uuid4())
    configured_at = uow.cause.time if uow.cause else datetime.now(UTC)
    await uow.conn.execute(
        "INSERT INTO clinics (clinic_id, config, event_id, configured_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (clinic_id) DO UPDATE SET config = EXCLUDED.config,"
        " event_id = EXCLUDED.event_id, configured_at = EXCLUDED.configured_at, updated_at = now()"
        " WHERE clinics.configured_at IS NULL OR clinics.configured_at <= EXCLUDED.configured_at",
        event.clinic_id,
        event.config.model_dump(mode="json"),
        version,
        configured_at,
    )


async def get_clinic(conn: Connection, clinic_id: str) -> ClinicConfig | None:
    """The clinic's configuration as this service's projection holds it now, or None."""
    return (await get_clinic_versioned(conn, clinic_id))[1]


async def get_clinic_versioned(conn: Connection, clinic_id: str) -> tuple[str | None, ClinicConfig | None]:
    """The clinic's configuration and its version (both None for a clinic not configured)."""
    cached = _parsed.get(clinic_id)
    row = await conn.fetchrow(_READ, clinic_id, cached[0] if cached else None)
    if row is None:
        return None, None
    version: str = row["event_id"]
    if row["config"] is None and cached is not None:
        return version, cached[1]
    return version, _parse(clinic_id, version, row["config"])


async def clinic_at(conn: Connection, clinic_id: str, version: str) -> ClinicConfig | None:
    """The clinic's configuration when its version was just read (under the caller's lock): no
    round trip while the parsed one is of that version."""
    cached = _parsed.get(clinic_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    row = await conn.fetchrow(_READ, clinic_id, None)
    return None if row is None else _parse(clinic_id, row["event_id"], row["config"])


def last_known(clinic_id: str) -> tuple[str, ClinicConfig] | None:
    """The version and configuration this process parsed last for the clinic, without reading: a
    guess, for a statement that checks the version under its lock (or to prefetch what it names)."""
    return _parsed.get(clinic_id)


async def for_version_check(
    conn: Connection, clinic_id: str, *, reread: bool = False
) -> tuple[str | None, ClinicConfig | None]:
    """The version and configuration parsed last (read if none, or if `reread`: the statement said
    stale), for a statement that checks the version under the clinic's lock; (None, None) for a
    clinic not configured."""
    known = None if reread else _parsed.get(clinic_id)
    return known if known is not None else await get_clinic_versioned(conn, clinic_id)


class UnknownClinic(Exception):
    """The clinic's configuration has not arrived (yet). Raised by an event's handler, it makes the
    event wait for the configuration (frontdesk.common.awaiting)."""

    def __init__(self, clinic_id: str) -> None:
        super().__init__(f"no configuration for clinic {clinic_id}")
        self.clinic_id = clinic_id


async def require_clinic(conn: Connection, clinic_id: str, version: str | None = None) -> ClinicConfig:
    """The clinic's configuration (at `version` when the caller just read it), or UnknownClinic."""
    clinic = await (get_clinic(conn, clinic_id) if version is None else clinic_at(conn, clinic_id, version))
    if clinic is None:
        raise UnknownClinic(clinic_id)
    return clinic


def _parse(clinic_id: str, version: str, document: object) -> ClinicConfig:
    clinic = ClinicConfig.model_validate(document)
    _parsed[clinic_id] = (version, clinic)
    return clinic
