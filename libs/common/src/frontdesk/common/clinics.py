"""The clinic directory: each service's own projection of the compacted `clinic.configured` topic.

Every service subscribes to `clinic.configured` through this handler and reads its clinics from its
own table; no service asks another for configuration.
"""

from __future__ import annotations

from .contracts import ClinicConfig, ClinicConfigured
from .db import Connection
from .uow import UnitOfWork


async def project_clinic(event: ClinicConfigured, uow: UnitOfWork) -> None:
    event_id = uow.cause.id if uow.cause else ""
    await uow.conn.execute(
        "INSERT INTO clinics (clinic_id, config, event_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (clinic_id) DO UPDATE SET config = EXCLUDED.config,"
        " event_id = EXCLUDED.event_id, updated_at = now()",
        event.clinic_id,
        event.config.model_dump(mode="json"),
        event_id,
    )


async def get_clinic(conn: Connection, clinic_id: str) -> ClinicConfig | None:
    config = await conn.fetchval("SELECT config FROM clinics WHERE clinic_id = $1", clinic_id)
    return None if config is None else ClinicConfig.model_validate(config)
