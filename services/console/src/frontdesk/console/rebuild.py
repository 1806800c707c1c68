"""Rebuild the read model from the topics' retention (`frontdesk-console rebuild`).

1. Replay every retained record of the console's topics, up to their ends now, through the live
   handlers and batch scope (projection.py) into a shadow copy of the read model
   (adapters/shadow.py); the live model serves meanwhile.
2. Swap the shadow into the live tables in one transaction.
3. Replay what arrived meanwhile into the live tables: the handlers keep the first (or newest) value
   of each fact, so an event the live consumer applies too changes nothing (nor the summaries: a
   call's share moves only when its facts do). The inbox is not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from frontdesk.common.batches import BatchScope
from frontdesk.common.cloudevents import Envelope, MalformedEvent, decode
from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import Event
from frontdesk.common.db import TRANSIENT_DB_ERRORS, Connection, create_pool
from frontdesk.common.logging import get_logger
from frontdesk.common.settings import ServiceSettings
from frontdesk.common.uow import transaction

from .adapters import shadow
from .adapters.replay import Offsets, Record, TopicReader

log = get_logger(__name__)
SOURCE = "frontdesk/console"


@dataclass
class Rebuilt:
    records: int = 0  # applied to the read model
    skipped: int = 0  # undecodable, of no handled type, or refused by their handler (as live: dead letters)
    tables: tuple[str, ...] = ()


def topics(handlers: Mapping[type[Event], Handler]) -> list[str]:
    return sorted(model.event_type for model in handlers if model.shared_topic)


async def _apply(
    conn: Connection, batch: list[Record], handlers: Mapping[str, Handler], scope: BatchScope, tally: Rebuilt
) -> None:
    """One transaction per batch, the projector's batch scope around it (its summaries and versions),
    one savepoint per record: a record its handler refuses is skipped."""
    envelopes: list[Envelope[Event]] = []
    for record in batch:
        try:
            envelope = decode(record.topic, record.value, record.headers)
        except MalformedEvent:
            tally.skipped += 1
            continue
        if envelope.type not in handlers:
            tally.skipped += 1
            continue
        envelopes.append(envelope)
    async with conn.transaction(), scope(conn, [e.data for e in envelopes]):
        for envelope in envelopes:
            try:
                async with transaction(conn, SOURCE, envelope.trace.child(), envelope) as uow:
                    await handlers[envelope.type](envelope.data, uow)
            except TRANSIENT_DB_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - the live consumer dead-lettered it too
                log.warning("rebuild skipped a record", topic=envelope.topic, reason=repr(exc)[:200])
                tally.skipped += 1
                continue
            tally.records += 1


async def build_shadow(
    conn: Connection, reader: TopicReader, handlers: Mapping[type[Event], Handler], scope: BatchScope
) -> tuple[Rebuilt, Offsets]:
    """The read model as the topics tell it, in the shadow schema; and the offsets it reaches."""
    by_type = {model.event_type: handler for model, handler in handlers.items()}
    tally = Rebuilt(tables=tuple(await shadow.read_model_tables(conn)))
    await shadow.create_shadow(conn, list(tally.tables))
    ends = await reader.ends()
    await shadow.use_shadow(conn)
    try:
        async for batch in reader.read(ends):
            await _apply(conn, batch, by_type, scope, tally)
    finally:
        await shadow.use_live(conn)
    return tally, ends


async def rebuild(settings: ServiceSettings, handlers: Mapping[type[Event], Handler], scope: BatchScope) -> Rebuilt:
    pool = await create_pool(settings.database_url, size=2)
    try:
        async with pool.acquire() as conn, TopicReader(settings, topics(handlers)) as reader:
            try:
                tally, reached = await build_shadow(conn, reader, handlers, scope)
                log.info("read model rebuilt in the shadow", records=tally.records, skipped=tally.skipped)
                await shadow.swap(conn, list(tally.tables))
            except BaseException:
                await shadow.drop_shadow(conn)
                raise
            by_type = {model.event_type: handler for model, handler in handlers.items()}
            async for batch in reader.read(await reader.ends(), start=reached):  # what arrived meanwhile
                await _apply(conn, batch, by_type, scope, tally)
    finally:
        await pool.close()
    log.info("read model swapped in", records=tally.records, skipped=tally.skipped, tables=list(tally.tables))
    return tally
