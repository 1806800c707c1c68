"""Outcomes kept until what they are about arrives (early_outcomes, migrations 003 and 016): a call's
answer, abandon or end that overtook the call (or its answer), a page acknowledgement that overtook its
message. One is kept per event type and per clinic and vendor it names, so an outcome naming the
wrong clinic or vendor never takes the place of the genuine one; which one applies is decided when
what it is about arrives (domain/vendor_isolation.py's `own_outcomes`; call_router_receive and
call_router_answer decide it the same way in functions.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from frontdesk.common import rows
from frontdesk.common.contracts import Event
from frontdesk.common.db import Connection

from ..domain.vendor_isolation import KeptOutcome


async def save(conn: Connection, key: str, event: Event, clinic_id: str, vendor_id: str = "") -> None:
    """Keep `event` (about the call or message `key`), naming `clinic_id` and `vendor_id` ('' for the
    phone system). The same outcome again changes nothing: the first kept stays."""
    await conn.execute(
        "INSERT INTO early_outcomes (call_id, event_type, clinic_id, vendor_id, payload)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        key,
        event.event_type,
        clinic_id,
        vendor_id,
        event.model_dump(mode="json"),
    )


async def take(conn: Connection, key: str, event_types: list[str]) -> list[KeptOutcome]:
    """Delete and return what is kept about `key` of these event types."""
    found = await conn.fetch(
        "DELETE FROM early_outcomes WHERE call_id = $1 AND event_type = ANY($2::text[]) RETURNING *", key, event_types
    )
    return kept(found)


def kept(records: Sequence[Any] | None) -> list[KeptOutcome]:
    """Typed rows of early_outcomes (as a query returns them, or a PL/pgSQL function as jsonb: asyncpg
    cannot read a composite type with a jsonb column)."""
    return [rows.from_row(KeptOutcome, r) for r in records or ()]
