"""The consumer's scheduling and offset rules, with the Kafka client and the record handling faked.

What is proven here: records of different partitions are handled concurrently (bounded), the records
of one partition strictly in order; an offset is committed only up to the first record that is not
done (failing, in flight, or never started); a revoked partition finishes its record in flight,
commits it, and drops the rest for its next owner; shutdown does the same for every partition.
The real path (decode, inbox, transaction, dead letters) runs against Kafka and PostgreSQL in
libs/common/tests/integration, the services' tests/integration and tests/faults.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from frontdesk.common.consumer import EventConsumer, _Partition, subscription_pattern
from frontdesk.common.contracts import VENDOR_EVENTS_TOPIC, CallAnswered, VendorMessageTaken
from frontdesk.common.settings import ServiceSettings

TOPIC = "call.received"
P0, P1, P2, P3 = (TopicPartition(TOPIC, n) for n in range(4))


class FakeKafka:
    """What EventConsumer uses of AIOKafkaConsumer once records are fetched."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    async def stop(self) -> None:
        pass

    def committed(self, tp: TopicPartition) -> int | None:
        """The last offset committed for tp."""
        return next((c[tp] for c in reversed(self.commits) if tp in c), None)


Behaviour = Callable[[ConsumerRecord[bytes, bytes]], Coroutine[Any, Any, bool]]


class Harness(EventConsumer):
    """EventConsumer whose per-record work is a test-supplied coroutine (True = done)."""

    def __init__(self, pool_size: int = 10) -> None:
        settings = ServiceSettings(service="test", db_pool_size=pool_size)
        super().__init__(settings, pool=None, producer=None, handlers={})  # type: ignore[arg-type]
        self.kafka = FakeKafka()
        self._consumer = self.kafka  # type: ignore[assignment]
        self.behaviour: Behaviour = self._instant
        self.started: list[tuple[int, int]] = []  # (partition, offset) in the order work began
        self.finished: list[tuple[int, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    @staticmethod
    async def _instant(_: ConsumerRecord[bytes, bytes]) -> bool:
        await asyncio.sleep(0)
        return True

    async def _process(self, record: ConsumerRecord[bytes, bytes], p: _Partition) -> bool:
        self.started.append((record.partition, record.offset))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            done = await self.behaviour(record)
        finally:
            self.in_flight -= 1
        if done:
            self.finished.append((record.partition, record.offset))
        return done

    def feed(self, tp: TopicPartition, offsets: range) -> None:
        self._enqueue(tp, [record(tp, o) for o in offsets])

    async def commit_now(self) -> None:
        await self._commit(list(self._partitions.values()))


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=[],
    )


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls state that no event announces
            await asyncio.sleep(0.001)


@pytest.fixture
async def consumer() -> Any:
    c = Harness()
    yield c
    await c.stop(timeout=1)


async def test_records_of_two_partitions_are_handled_concurrently(consumer: Harness) -> None:
    second_done = asyncio.Event()

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        if r.partition == 0:  # waits for partition 1: deadlocks if partitions were handled in turn
            await asyncio.wait_for(second_done.wait(), timeout=2)
        else:
            second_done.set()
        return True

    consumer.behaviour = behaviour
    consumer._take([P0, P1])
    consumer.feed(P0, range(1))
    consumer.feed(P1, range(1))
    await until(lambda: len(consumer.finished) == 2)
    assert consumer.finished == [(1, 0), (0, 0)]


async def test_one_partitions_records_are_handled_in_order_one_at_a_time(consumer: Harness) -> None:
    per_partition: dict[int, int] = {0: 0, 1: 0}

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        per_partition[r.partition] += 1
        assert per_partition[r.partition] == 1, "two records of one partition in flight at once"
        await asyncio.sleep(0.001 * (r.offset % 3))  # uneven durations
        per_partition[r.partition] -= 1
        return True

    consumer.behaviour = behaviour
    consumer._take([P0, P1])
    for start in range(0, 60, 20):  # several fetches
        consumer.feed(P0, range(start, start + 20))
        consumer.feed(P1, range(start, start + 20))
    await until(lambda: len(consumer.finished) == 120)
    for partition in (0, 1):
        assert [o for p, o in consumer.finished if p == partition] == list(range(60))
    await consumer.commit_now()
    assert consumer.kafka.committed(P0) == 60 and consumer.kafka.committed(P1) == 60


async def test_concurrency_is_bounded_by_a_share_of_the_pool() -> None:
    consumer = Harness(pool_size=4)  # two records in flight at most
    release = asyncio.Event()

    async def behaviour(_: ConsumerRecord[bytes, bytes]) -> bool:
        await release.wait()
        return True

    consumer.behaviour = behaviour
    consumer._take([P0, P1, P2, P3])
    for tp in (P0, P1, P2, P3):
        consumer.feed(tp, range(2))
    await until(lambda: consumer.in_flight == 2)
    await asyncio.sleep(0.02)
    assert consumer.most_in_flight == 2
    release.set()
    await until(lambda: len(consumer.finished) == 8)
    assert consumer.most_in_flight == 2
    await consumer.stop(timeout=1)


async def test_offsets_never_pass_a_failing_or_in_flight_record(consumer: Harness) -> None:
    failures = {2: 2}  # offset 2 is not done twice (e.g. its dead-letter publish failed), then is
    hold = asyncio.Event()

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        if failures.get(r.offset, 0) > 0:
            failures[r.offset] -= 1
            await asyncio.sleep(0.01)
            return False
        if r.offset == 4:
            await hold.wait()  # in flight until released
        return True

    consumer.behaviour = behaviour
    consumer._take([P0])
    consumer.feed(P0, range(6))
    await until(lambda: (0, 2) in consumer.started)
    await consumer.commit_now()
    assert consumer.kafka.committed(P0) == 2  # offsets 0 and 1 are done; 2 is not
    await until(lambda: (0, 4) in consumer.started)
    for _ in range(3):
        await consumer.commit_now()
        assert consumer.kafka.committed(P0) == 4  # 4 is in flight, 5 waits behind it
        await asyncio.sleep(0.01)
    hold.set()
    await until(lambda: len(consumer.finished) == 6)
    await consumer.commit_now()
    assert consumer.kafka.committed(P0) == 6
    assert [o for _, o in consumer.started] == [0, 1, 2, 2, 2, 3, 4, 5]  # retried in place, in order
    assert all(all(v <= 6 for v in c.values()) for c in consumer.kafka.commits)


async def test_a_revoked_partition_finishes_its_record_in_flight_commits_it_and_drops_the_rest(
    consumer: Harness,
) -> None:
    hold = asyncio.Event()

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        if r.offset == 3 and r.partition == 0:
            await hold.wait()
        return True

    consumer.behaviour = behaviour
    consumer._take([P0, P1])
    consumer.feed(P0, range(10))
    consumer.feed(P1, range(2))
    await until(lambda: (0, 3) in consumer.started and len([f for f in consumer.finished if f[0] == 1]) == 2)
    revoking = asyncio.create_task(consumer._give_up({P0, P1}))
    await asyncio.sleep(0.02)
    assert not revoking.done()  # waits for the record in flight
    hold.set()
    await revoking
    assert consumer.kafka.commits[-1] == {P0: 4, P1: 2}
    assert (0, 4) not in consumer.started  # queued records are left to the next owner
    consumer.feed(P0, range(4, 6))  # a late fetch of a revoked partition is ignored too
    await asyncio.sleep(0.01)
    assert (0, 4) not in consumer.started


async def test_a_partition_assigned_again_starts_afresh(consumer: Harness) -> None:
    consumer._take([P0])
    consumer.feed(P0, range(3))
    await until(lambda: len(consumer.finished) == 3)
    await consumer._give_up({P0})
    consumer._take([P0])
    consumer.feed(P0, range(3, 5))  # fetched again from the committed offset
    await until(lambda: len(consumer.finished) == 5)
    await consumer.commit_now()
    assert consumer.kafka.committed(P0) == 5


async def test_shutdown_lets_records_in_flight_finish_and_commits_them() -> None:
    consumer = Harness()
    hold = asyncio.Event()

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        if r.offset == 1:
            await hold.wait()
        return True

    consumer.behaviour = behaviour
    consumer._take([P0])
    consumer.feed(P0, range(5))
    await until(lambda: (0, 1) in consumer.started)
    stopping = asyncio.create_task(consumer.stop(timeout=2))
    await asyncio.sleep(0.02)
    hold.set()
    await stopping
    assert consumer.kafka.committed(P0) == 2
    assert [o for _, o in consumer.finished] == [0, 1]


async def test_a_record_stuck_past_the_shutdown_timeout_is_not_committed() -> None:
    consumer = Harness()

    async def behaviour(r: ConsumerRecord[bytes, bytes]) -> bool:
        if r.offset == 1:
            await asyncio.sleep(10)
        return True

    consumer.behaviour = behaviour
    consumer._take([P0])
    consumer.feed(P0, range(3))
    await until(lambda: (0, 1) in consumer.started)
    await consumer.stop(timeout=0.05)
    assert consumer.kafka.committed(P0) == 1
    assert consumer.in_flight_since is not None  # the liveness watchdog still sees it


async def test_a_long_queue_pauses_fetching_until_it_drains(consumer: Harness) -> None:
    release = asyncio.Event()

    async def behaviour(_: ConsumerRecord[bytes, bytes]) -> bool:
        await release.wait()
        return True

    consumer.behaviour = behaviour
    consumer._take([P0])
    consumer.feed(P0, range(2000))
    assert P0 in consumer.kafka.paused
    release.set()
    await until(lambda: P0 not in consumer.kafka.paused)
    await until(lambda: len(consumer.finished) == 2000, timeout=10)


def test_one_subscription_for_topics_and_patterns() -> None:
    pattern = re.compile(subscription_pattern(["call.received", "clinic.configured"], [r"^vendor\..+\.events$"]))
    assert pattern.match("call.received") and pattern.match("vendor.acme.events")
    assert not pattern.match("call.received.dlq") and not pattern.match("callxreceived")
    assert not pattern.match("vendor.acme.events.dlq") and not pattern.match("vendor.acme.calls")


def test_types_without_a_shared_topic_are_read_through_their_pattern() -> None:
    async def handler(event: Any, uow: Any) -> None:
        pass

    settings = ServiceSettings(service="test")
    handlers: Any = {CallAnswered: handler, VendorMessageTaken: handler}
    with pytest.raises(ValueError, match=r"answering\.message_taken"):
        EventConsumer(settings, pool=None, producer=None, handlers=handlers)  # type: ignore[arg-type]
    consumer = EventConsumer(settings, None, None, handlers, topic_patterns=[VENDOR_EVENTS_TOPIC])  # type: ignore[arg-type]
    assert consumer.topics == [] and consumer.pattern is not None
    pattern = re.compile(consumer.pattern)
    assert pattern.match("call.answered") and pattern.match("vendor.acme.events")
    assert not pattern.match("answering.message_taken")  # there is no such shared topic
