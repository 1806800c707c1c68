"""A read-only view of topics for the demo and the tests: what was published after the tap opened.

It joins no consumer group (so it never steals partitions from a service) and decodes each record
as any consumer would, keeping malformed ones aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from frontdesk.common.cloudevents import Envelope, MalformedEvent, decode
from frontdesk.common.contracts import Event
from frontdesk.common.kafka import KafkaSecurity, make_reader, topic_partitions


@dataclass
class EventTap:
    bootstrap: str
    topics: Iterable[str]
    from_beginning: bool = False
    security: KafkaSecurity | None = None  # default: the process's KAFKA_* identity
    events: list[Envelope[Event]] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)  # each event's record timestamp (ms since the epoch)
    raw: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> EventTap:
        self.topics = list(self.topics)
        partitions = await topic_partitions(self.bootstrap, list(self.topics), self.security)
        consumer = make_reader(self.bootstrap, "frontdesk-tap", self.security)
        await consumer.start()
        consumer.assign(partitions)
        if self.from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            for tp, offset in (await consumer.end_offsets(partitions)).items():
                consumer.seek(tp, offset)
        self._consumer = consumer
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, timeout: float = 0.2) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000))
        for records in batches.values():
            for record in records:
                self.raw.append(record)
                with contextlib.suppress(MalformedEvent):  # a malformed record stays in `raw` only
                    self.events.append(decode(record.topic, record.value, record.headers))
                    self.timestamps.append(record.timestamp)

    def order_gaps(self) -> list[str]:
        """Each partition's records must arrive in offset order with no offset missing: our producers
        are idempotent and never transactional, so a partition's offsets are dense, and a jump or a
        step back means a record was lost (e.g. truncated by an unclean leader) or reordered."""
        last: dict[tuple[str, int], int] = {}
        gaps: list[str] = []
        for record in self.raw:
            where = (record.topic, record.partition)
            if where in last and record.offset != last[where] + 1:
                gaps.append(f"{record.topic}-{record.partition}: offset {record.offset} after {last[where]}")
            last[where] = record.offset
        return gaps

    def stamped(self) -> list[tuple[int, Envelope[Event]]]:
        """Each event with its record timestamp (the broker's clock, as every consumer sees it)."""
        return list(zip(self.timestamps, self.events, strict=True))

    def matching(self, predicate: Callable[[Envelope[Event]], bool]) -> list[Envelope[Event]]:
        return [e for e in self.events if predicate(e)]

    async def wait_for(
        self, predicate: Callable[[Envelope[Event]], bool], count: int = 1, timeout: float = 30
    ) -> list[Envelope[Event]]:
        """Poll until `count` events match (or the deadline passes); return the matches."""
        deadline = time.monotonic() + timeout
        while len(found := self.matching(predicate)) < count and time.monotonic() < deadline:
            await self.poll()
        if len(found) < count:
            raise TimeoutError(f"saw {len(found)} of {count} expected events within {timeout:.0f} s")
        return found

    async def settle(self, seconds: float) -> None:
        """Keep collecting for `seconds` (to see that nothing more arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll(min(0.2, max(deadline - time.monotonic(), 0.01)))
        await asyncio.sleep(0)
