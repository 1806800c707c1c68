"""The clinic configurations this service reads (libs/common's clinic directory), with the provider
templates set over HTTP laid over them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork


@dataclass(frozen=True)
class ClinicVersion:
    """What a parsed configuration was read from: the projection row's time, and the count and newest
    time of the templates set over HTTP. The booking statement checks that it is still current."""

    updated_at: datetime
    templates: int
    templates_latest: datetime | None


@dataclass(frozen=True)
class KnownClinic:
    version: ClinicVersion
    config: ClinicConfig


# Parsed clinic configurations (with the HTTP-set templates laid over their providers), reused while
# neither the projection row nor the templates changed: one cheap read instead of decoding and
# validating the whole document on every command, and none at all for a booking (see `cached`).
_clinics: dict[str, KnownClinic] = {}


def cached(clinic_id: str) -> KnownClinic | None:
    """The configuration this process read last, unchecked: whoever uses it must check its version
    in the same transaction (the booking statement does)."""
    return _clinics.get(clinic_id)


async def clinic_of(conn: Connection | UnitOfWork, clinic_id: str) -> ClinicConfig | None:
    known = await current(conn, clinic_id)
    return known.config if known else None


async def current(conn: Connection | UnitOfWork, clinic_id: str) -> KnownClinic | None:
    """The clinic's configuration as it is now, and its version."""
    if isinstance(conn, UnitOfWork):
        conn = conn.conn
    row = await conn.fetchrow(
        "SELECT c.updated_at, t.n, t.latest FROM clinics c, LATERAL (SELECT count(*) AS n, max(updated_at) AS latest"
        " FROM provider_templates WHERE clinic_id = c.clinic_id) t WHERE c.clinic_id = $1",
        clinic_id,
    )
    if row is None:
        return None
    version = ClinicVersion(row["updated_at"], row["n"], row["latest"])
    known = _clinics.get(clinic_id)
    if known is not None and known.version == version:
        return known
    clinic = await get_clinic(conn, clinic_id)
    if clinic is None:
        return None
    if version.templates:
        overrides = {
            r["provider_id"]: r["availability"]
            for r in await conn.fetch(
                "SELECT provider_id, availability FROM provider_templates WHERE clinic_id = $1", clinic_id
            )
        }
        clinic = clinic.model_copy(
            update={
                "providers": [
                    Provider.model_validate({**p.model_dump(mode="json"), "availability": overrides[p.provider_id]})
                    if p.provider_id in overrides
                    else p
                    for p in clinic.providers
                ]
            }
        )
    known = KnownClinic(version, clinic)
    _clinics[clinic_id] = known
    return known
