"""The clinic configurations this service reads (libs/common's clinic directory), with the provider
templates set over HTTP laid over them."""

from __future__ import annotations

from typing import Any

from frontdesk.common.clinics import clinic_at
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.scheduling import Provider
from frontdesk.common.db import Connection
from frontdesk.common.uow import UnitOfWork

# Clinic configurations with the HTTP-set templates laid over their providers, reused while neither
# the configuration's version nor the templates changed: one cheap read per command.
_clinics: dict[str, tuple[Any, ClinicConfig]] = {}


async def clinic_of(conn: Connection | UnitOfWork, clinic_id: str) -> ClinicConfig | None:
    if isinstance(conn, UnitOfWork):
        conn = conn.conn
    version = await conn.fetchrow(
        "SELECT c.event_id, t.n, t.latest FROM clinics c, LATERAL (SELECT count(*) AS n, max(updated_at) AS latest"
        " FROM provider_templates WHERE clinic_id = c.clinic_id) t WHERE c.clinic_id = $1",
        clinic_id,
    )
    if version is None:
        return None
    key = tuple(version.values())
    cached = _clinics.get(clinic_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    clinic = await clinic_at(conn, clinic_id, version["event_id"])
    if clinic is None:
        return None
    if version["n"]:
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
    _clinics[clinic_id] = (key, clinic)
    return clinic
