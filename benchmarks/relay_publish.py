"""The outbox relay's publish step: aiokafka (what the relay does) vs faststream's producer, same run.

Both publish the same batches of real CloudEvents records (`call.routed`, keyed by clinic, the relay's
500-row batches) to one topic of one broker started for this run, with the same producer settings
(acks=all, idempotence, linger 2 ms): every record of a batch is sent, then the batch's
acknowledgements are awaited together, as `OutboxRelay.publish_batch` does. The database part of the
relay (read, delete) is the same for both and left out. The two paths alternate round by round so a
busier moment of the machine hits both. faststream's path is `KafkaBroker.publish(..., no_confirm=True)`,
its only way to have several records in flight; it adds its own `correlation_id` header to each record.

    .venv/bin/python benchmarks/relay_publish.py [--batches 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from frontdesk.common.cloudevents import OutgoingRecord, encode
from frontdesk.common.contracts import CallRouted, TopicSpec
from frontdesk.common.kafka import MAX_REQUEST_BYTES, ensure_topics, make_producer
from frontdesk.tools.stack import LocalStack

TOPIC = "bench.relay"
BATCH = 500  # OutboxRelay's batch_size
Publish = Callable[[list[OutgoingRecord]], Awaitable[None]]


def records(n: int) -> list[OutgoingRecord]:
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        event = CallRouted(
            call_id=f"call-{i}",
            clinic_id=f"clinic-{i % 24}",
            target_kind="receptionist",
            target_id=f"r-{i % 10}",
            reason="longest_idle",
            answer_by=now + timedelta(seconds=18),
        )
        out.append(encode(event, source="frontdesk/call-router", topic=TOPIC))
    return out


async def aiokafka_path(bootstrap: str) -> tuple[Publish, Callable[[], Awaitable[None]]]:
    producer = make_producer(bootstrap, "bench-relay-aiokafka")
    await producer.start()

    async def publish(batch: list[OutgoingRecord]) -> None:
        futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in batch]
        await asyncio.gather(*futures)

    return publish, producer.stop


async def faststream_path(bootstrap: str) -> tuple[Publish, Callable[[], Awaitable[None]]]:
    from faststream.kafka import KafkaBroker

    broker = KafkaBroker(
        bootstrap,
        client_id="bench-relay-faststream",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=30_000,
        max_request_size=MAX_REQUEST_BYTES,
    )
    await broker.connect()

    async def publish(batch: list[OutgoingRecord]) -> None:
        futures: list[Any] = []
        for r in batch:
            headers = {name: value.decode() for name, value in r.headers}
            futures.append(await broker.publish(r.value, r.topic, key=r.key, headers=headers, no_confirm=True))
        await asyncio.gather(*futures)

    async def stop() -> None:
        await broker.stop()

    return publish, stop


async def measure(publish: Publish, batches: list[list[OutgoingRecord]]) -> dict[str, float]:
    per_batch = []
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        await publish(batch)
        per_batch.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    ordered = sorted(per_batch)
    return {
        "records_per_s": sum(len(b) for b in batches) / elapsed,
        "batch_p50_ms": statistics.median(ordered),
        "batch_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def run(bootstrap: str, n_batches: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    await ensure_topics(bootstrap, [TopicSpec(TOPIC, partitions=6)])
    data = records(n_batches * BATCH)
    batches = [data[i : i + BATCH] for i in range(0, len(data), BATCH)]
    paths = {"aiokafka": await aiokafka_path(bootstrap), "faststream": await faststream_path(bootstrap)}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    try:
        for publish, _ in paths.values():  # warm-up: connections, metadata, producer ids
            await measure(publish, batches[:4])
        for r in range(rounds):
            order = list(paths) if r % 2 == 0 else list(reversed(paths))
            for name in order:
                results[name].append(await measure(paths[name][0], batches))
    finally:
        for _, stop in paths.values():
            await stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40, help=f"batches of {BATCH} records per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-bench-relay-"))
    stack = LocalStack.ephemeral(state_dir)
    try:
        if not stack.external_kafka:
            stack.kafka.start()
        results = asyncio.run(run(stack.bootstrap, args.batches, args.rounds))
    finally:
        stack.kafka.process.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    print(f"relay publish, {args.batches} x {BATCH} records per round, {args.rounds} rounds ({platform.node()})")
    for name, rows in results.items():
        for i, row in enumerate(rows):
            print(
                f"  {name:<10} round {i + 1}: {row['records_per_s']:>9.0f} records/s, "
                f"batch p50 {row['batch_p50_ms']:.1f} ms, p99 {row['batch_p99_ms']:.1f} ms"
            )
    base = statistics.median(r["records_per_s"] for r in results["aiokafka"])
    fast = statistics.median(r["records_per_s"] for r in results["faststream"])
    print(f"median throughput: aiokafka {base:.0f}/s, faststream {fast:.0f}/s, ratio {fast / base:.2f}x")


if __name__ == "__main__":
    main()
