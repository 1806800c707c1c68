"""Which vendors have their own calls topic yet (vendor_topics.py creates them; hand-overs wait for it)."""

from __future__ import annotations

from frontdesk.common.db import Connection


async def want_vendor_topics(conn: Connection, vendor_ids: list[str]) -> bool:
    """Note vendors whose topic must exist; True if any is not ready yet."""
    await conn.execute(
        "INSERT INTO vendor_topics (vendor_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", vendor_ids
    )
    missing = await conn.fetchval(
        "SELECT count(*) FROM vendor_topics WHERE vendor_id = ANY($1::text[]) AND NOT ready", vendor_ids
    )
    return bool(missing)


async def vendors_without_topic(conn: Connection) -> list[str]:
    return [r["vendor_id"] for r in await conn.fetch("SELECT vendor_id FROM vendor_topics WHERE NOT ready")]


async def vendor_topics_ready(conn: Connection, vendor_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE vendor_topics SET ready = true, ready_at = now() WHERE vendor_id = ANY($1::text[])", vendor_ids
    )


async def vendor_topic_ready(conn: Connection, vendor_id: str) -> bool:
    return bool(await conn.fetchval("SELECT ready FROM vendor_topics WHERE vendor_id = $1", vendor_id))
