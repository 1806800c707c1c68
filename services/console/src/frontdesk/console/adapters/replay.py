"""Reading the console's topics from what they retain, without a consumer group: every partition from
a given offset (the earliest retained by default) up to given end offsets. Nothing is committed; the
live consumer's group and offsets are not touched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from frontdesk.common.kafka import client_options, topic_partitions
from frontdesk.common.settings import ServiceSettings

Offsets: TypeAlias = dict[TopicPartition, int]
Record: TypeAlias = ConsumerRecord[bytes, bytes]


class TopicReader:
    def __init__(self, settings: ServiceSettings, topics: Iterable[str]) -> None:
        self._topics = sorted(topics)
        self._bootstrap = settings.kafka_bootstrap_servers
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"{settings.service}-rebuild",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(),
        )
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> TopicReader:
        self._partitions = await topic_partitions(self._bootstrap, self._topics)
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def ends(self) -> Offsets:
        """Each partition's end now: a pass reads up to here and no further."""
        ends: Offsets = await self._consumer.end_offsets(self._partitions)
        return ends

    async def read(
        self, ends: Mapping[TopicPartition, int], start: Offsets | None = None
    ) -> AsyncIterator[list[Record]]:
        """Batches of records from `start` (default: the earliest retained) up to `ends`."""
        firsts: Offsets = await self._consumer.beginning_offsets(self._partitions)
        for tp in self._partitions:
            self._consumer.seek(tp, max(firsts[tp], (start or {}).get(tp, firsts[tp])))
        pending = {tp for tp in self._partitions if await self._consumer.position(tp) < ends[tp]}
        while pending:
            fetched = await self._consumer.getmany(*pending, timeout_ms=1000, max_records=500)
            batch = [r for tp, records in fetched.items() for r in records if r.offset < ends[tp]]
            if batch:
                yield batch
            pending = {tp for tp in pending if await self._consumer.position(tp) < ends[tp]}
