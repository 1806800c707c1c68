"""What the Kafka client costs: the bare passthrough on aiokafka against the same on confluent-kafka.

call-router spends ~3.3 ms of CPU per call (benchmarks/README.md, "CPU per call"), and a bare
aiokafka passthrough alone ~0.9 ms per record; a call is two records in and three or more out. This
measures how much of that is the client library: the same passthrough (consume a record, produce it
unchanged with acks=all and idempotence, wait for the acknowledgement, then commit its offset, one
record at a time) written on aiokafka (pure Python protocol, the services' client) and on
confluent-kafka (librdkafka, C), each its own OS process, one after the other on the same broker, at
the same constant rate. Reported per path: latency from the intended send (p50/p99), throughput, and
the CPU the passthrough's process used per measured record (`cpu ms`).

Run: `.venv/bin/python benchmarks/kafka_clients.py [--rate 200] [--count 2000] [--warmup 2000]`.
KAFKA_BOOTSTRAP_SERVERS, when set, is used instead of an ephemeral broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import roundtrip
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from frontdesk.tools.apply import load_clinics
from frontdesk.tools.stack import LocalStack

RDKAFKA = "--rdkafka-passthrough"


def rdkafka_passthrough(bootstrap: str, source: str, target: str, group: str) -> dict[str, int]:
    """roundtrip.passthrough on confluent-kafka: the same steps, the same settings, until SIGTERM."""
    from confluent_kafka import Consumer, Producer

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    common = {"bootstrap.servers": bootstrap, "client.id": "bench-passthrough-rdkafka"}
    consumer = Consumer({**common, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    producer = Producer({**common, "acks": "all", "enable.idempotence": True, "linger.ms": 0})
    consumer.subscribe([source])
    busy_ns: dict[str, int] = {}
    try:
        while not stopping:
            record = consumer.poll(0.1)
            if record is None or record.error() is not None:
                continue
            started = time.perf_counter_ns()
            producer.produce(target, record.value(), key=record.key(), headers=record.headers())
            producer.flush()  # the acknowledgement, as send_and_wait
            consumer.commit(message=record, asynchronous=False)  # only once the output is acknowledged
            ident = next((v.decode() for k, v in record.headers() or [] if k == roundtrip.ID_HEADER), None)
            if ident is not None:
                busy_ns[ident] = time.perf_counter_ns() - started
    finally:
        consumer.close()
    return busy_ns


class RdkafkaPassthrough(roundtrip.Passthrough):
    def __init__(self, bootstrap: str, source: str, target: str, state_dir: Path) -> None:
        super().__init__(bootstrap, source, target, state_dir)
        self._argv = [sys.executable, str(Path(__file__).resolve()), RDKAFKA, *self._argv[3:]]


async def measure(settings: roundtrip.Settings, stack: LocalStack) -> list[roundtrip.PathResult]:
    clinics = load_clinics(roundtrip.NETWORK)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap, client_id="bench-admin")
    await admin.start()
    results = []
    try:
        for label, forwarder in (("aiokafka", roundtrip.Passthrough), ("confluent-kafka", RdkafkaPassthrough)):
            suffix = uuid.uuid4().hex[:8]
            source, target = f"bench.in.{suffix}", f"bench.out.{suffix}"
            await admin.create_topics([NewTopic(t, roundtrip.BENCH_PARTITIONS, 1) for t in (source, target)])
            await roundtrip.wait_for_leaders(admin, [source, target])
            result = await roundtrip.bench_bare(
                settings,
                stack.bootstrap,
                clinics,
                stack.state_dir,
                source,
                target,
                forwarder,
                f"bare {label} passthrough",
            )
            results.append(result)
            with contextlib.suppress(Exception):
                await admin.delete_topics([source, target])
    finally:
        await admin.close()
    return results


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == RDKAFKA:
        *where, stats_file = sys.argv[2:]
        Path(stats_file).write_text(json.dumps(rdkafka_passthrough(*where)))
        return 0
    args = roundtrip.parse_args()
    settings = roundtrip.Settings(args.rate, args.count, args.warmup, args.drain_timeout)
    roundtrip.quiet_logging()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-", ignore_cleanup_errors=True) as tmp:
        stack = LocalStack.ephemeral(Path(tmp))
        try:
            roundtrip.log("starting Kafka")
            stack.start_infrastructure()
            results = asyncio.run(measure(settings, stack))
        finally:
            stack.stop()
    print(
        f"\nBare passthrough, {settings.count} records per client at {settings.rate:g}/s"
        f" (after {settings.warmup} warm-up):"
    )
    print(f"{'client':<34}{'p50 ms':>9}{'p99 ms':>9}{'records/s':>11}{'busy ms':>9}{'cpu ms':>8}")
    for r in results:
        s = r.stats()
        busy = "-" if r.busy_ms is None else f"{r.busy_ms:.2f}"
        cpu = "-" if r.cpu_ms is None else f"{r.cpu_ms:.3f}"
        print(f"{r.label:<34}{s['p50_ms']:>9.2f}{s['p99_ms']:>9.2f}{r.throughput:>11.1f}{busy:>9}{cpu:>8}")
    aio, rd = results
    if aio.cpu_ms and rd.cpu_ms:
        print(f"cpu per record, aiokafka / confluent-kafka: {aio.cpu_ms / rd.cpu_ms:.2f}x")
    return 0 if all(r.received == r.sent for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
