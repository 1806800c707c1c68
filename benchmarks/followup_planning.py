"""followup planning throughput and latency: visit.completed in -> followup.scheduled out.

Each visit.completed makes followup plan two follow-ups (next-day check-in and recall: two durable
timers, two message rows, two followup.scheduled events) in one PostgreSQL transaction with the inbox
claim. Two paths run one after the other on the same broker, at the same paced rate and count:

- bare:     load -> bench.fu.in -> a plain AIOKafkaConsumer (own process, group, commit after each
            record) that re-produces each record to bench.fu.out -> sink. The Kafka-only floor.
- followup: load -> visit.completed -> the followup service process -> followup.scheduled -> sink.

Latency runs from the *intended* send time of each record (paced schedule) to the moment the sink
sees the output (for followup: the check-in's followup.scheduled), so sender stalls count.

With `--replicas N` followup runs as N instances in one consumer group (the group spreads the
partitions of visit.completed over them). Each path also reports the CPU it cost per visit while
measuring: the process(es) under test (per replica), PostgreSQL (every backend) and the broker.

Run: `.venv/bin/python benchmarks/followup_planning.py [--rate 100] [--count 2000] [--replicas 1] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import procstat
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from frontdesk.common.cloudevents import decode, encode
from frontdesk.common.contracts import ClinicConfig, VisitCompleted
from frontdesk.common.kafka import make_producer, topic_partitions
from frontdesk.tools.apply import load_clinics, publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
NETWORK = ROOT / "deploy" / "local" / "demo-network.yaml"
BARE_IN, BARE_OUT = "bench.fu.in", "bench.fu.out"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def passthrough(bootstrap: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    consumer = AIOKafkaConsumer(
        BARE_IN,
        bootstrap_servers=bootstrap,
        group_id=f"bench-fu-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = make_producer(bootstrap, client_id="bench-passthrough", linger_ms=0)
    await producer.start()
    await consumer.start()

    async def forward() -> None:
        async for record in consumer:
            await producer.send_and_wait(BARE_OUT, record.value, key=record.key, headers=list(record.headers))
            await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})

    task = asyncio.create_task(forward())
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await consumer.stop()
    await producer.stop()


class Sink:
    """A group-less reader of one topic from its current end: ident -> first time seen (ns)."""

    def __init__(self, bootstrap: str, topic: str, ident: Any) -> None:
        self.bootstrap, self.topic, self.ident = bootstrap, topic, ident
        self.seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sink:
        partitions = await topic_partitions(self.bootstrap, [self.topic])
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await self._consumer.start()
        self._consumer.assign(partitions)
        for tp, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter_ns()
            for records in batches.values():
                for record in records:
                    ident = self.ident(record)
                    if ident is not None:
                        self.seen.setdefault(ident, now)

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def wait_for(self, idents: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in self.seen for i in idents) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


class CpuMeter:
    """CPU seconds of the processes under test (one, or each replica) and of the stack's servers."""

    def __init__(self, stack: LocalStack, pids: list[int | None]) -> None:
        self.stack, self.pids = stack, pids

    def read(self) -> dict[str, Any]:
        return {
            "each": [procstat.cpu_seconds(pid) for pid in self.pids],
            "postgres": procstat.postgres_cpu_seconds(self.stack.postgres.process.pid()),
            "kafka": procstat.cpu_seconds(self.stack.kafka.process.pid()),
        }

    @staticmethod
    def per_record(before: dict[str, Any], after: dict[str, Any], records: int) -> dict[str, Any]:
        """Milliseconds per record between two readings (what could not be read is left out)."""

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000 / records, 3)

        each = [ms(a, b) for a, b in zip(before["each"], after["each"], strict=True)]
        known = [x for x in each if x is not None]
        return {
            "cpu_ms_per_record": round(sum(known), 3) if known else None,
            "cpu_ms_per_record_each_instance": each,
            "postgres_cpu_ms_per_record": ms(before["postgres"], after["postgres"]),
            "kafka_cpu_ms_per_record": ms(before["kafka"], after["kafka"]),
        }


# ---------------------------------------------------------------- shared with followup_sending.py, reviews_requests.py


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


async def create_topics(bootstrap: str, *topics: str) -> None:
    """The bare path's topics, partitioned as the services' (one that exists already is kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    with contextlib.suppress(Exception):
        await admin.create_topics([NewTopic(t, 6, 1) for t in topics])
    await admin.close()


async def start_instances(stack: LocalStack, service: str, count: int) -> list[ServiceProcess]:
    """`count` instances of `service` in one consumer group, started together."""
    instances = [stack.replica(service, i) for i in range(count)]
    for instance in instances:
        instance.start(wait=False)
    for instance in instances:
        await asyncio.to_thread(instance.wait_ready)
    return instances


async def until_known(service: ServiceProcess, clinics: list[ClinicConfig], timeout: float = 60) -> None:
    """Until `service` has applied the bench clinics' configuration."""
    deadline = time.monotonic() + timeout
    while not {c.clinic_id for c in clinics} <= service.known_clinics():
        assert time.monotonic() < deadline, f"{service.name} never learned the bench clinics"
        await asyncio.sleep(0.2)


def print_paths(paths: list[dict[str, Any]], rate: str, unit: str) -> None:
    """The paths side by side (received, `rate` per second, latency), then the CPU each cost per `unit`."""
    print(f"{'path':<10}{'received':>10}{rate:>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for p in paths:
        print(
            f"{p['path']:<10}{p['received']:>10}{p['throughput_per_s']:>10.1f}{p['p50_ms']:>10.1f}"
            f"{p['p99_ms']:>10.1f}{p['max_ms']:>10.1f}"
        )
    for p in paths:
        each = " + ".join(f"{ms:.2f}" for ms in p["cpu_ms_per_record_each_instance"] if ms is not None)
        print(
            f"CPU ms per {unit}, {p['path']}: {p['cpu_ms_per_record']} ({each}); PostgreSQL"
            f" {p['postgres_cpu_ms_per_record']}, broker {p['kafka_cpu_ms_per_record']}"
        )


async def run_path(
    name: str,
    bootstrap: str,
    topic: str,
    sink_topic: str,
    ident: Any,
    records: list[tuple[str, Any]],
    rate: float,
    cpu: CpuMeter | None = None,
) -> dict[str, Any]:
    producer = make_producer(bootstrap, client_id="bench-load")
    await producer.start()
    intended: dict[str, int] = {}
    cpu_before = cpu.read() if cpu else None
    async with Sink(bootstrap, sink_topic, ident) as sink:
        start = time.perf_counter_ns() + 200_000_000
        for n, (key, record) in enumerate(records):
            due = start + int(n * 1e9 / rate)
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            intended[key] = due
            await producer.send(topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
        await sink.wait_for(list(intended), timeout=120 + len(records) / rate)
        seen = dict(sink.seen)
    cpu_used = CpuMeter.per_record(cpu_before, cpu.read(), len(records)) if cpu and cpu_before else {}
    await producer.stop()
    latencies = sorted((seen[k] - intended[k]) / 1e6 for k in intended if k in seen)
    received = len(latencies)
    first, last = min(intended.values()), max(seen.values(), default=0)
    elapsed = (last - first) / 1e9 if received else float("nan")
    return {
        "path": name,
        "sent": len(records),
        "received": received,
        "throughput_per_s": received / elapsed if received else 0.0,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        **cpu_used,
    }


def visit_records(count: int, clinic_ids: list[str], run: str) -> list[tuple[str, Any]]:
    out = []
    for n in range(count):
        visit = VisitCompleted(
            visit_id=f"bv-{run}-{n}",
            patient_id=f"bp-{run}-{n}",
            clinic_id=clinic_ids[n % len(clinic_ids)],
            provider_id="dr-bench",
            completed_at=datetime.now(UTC),
        )
        out.append((visit.visit_id, encode(visit, source="frontdesk/bench")))
    return out


def check_in_ident(record: Any) -> str | None:
    with contextlib.suppress(Exception):
        envelope = decode(record.topic, record.value, record.headers)
        data = envelope.data
        if getattr(data, "kind", None) == "check_in":
            return str(data.visit_id)  # type: ignore[attr-defined]
    return None


def bare_ident(record: Any) -> str | None:
    with contextlib.suppress(Exception):
        return str(json.loads(record.value)["visit_id"])
    return None


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="fu-bench-"))
    stack = LocalStack.ephemeral(state)
    try:
        log("starting Kafka and PostgreSQL")
        await asyncio.to_thread(stack.start_infrastructure)
        await create_topics(stack.bootstrap, BARE_IN, BARE_OUT)
        clinics = load_clinics(NETWORK)
        log(f"starting followup ({args.replicas} instance{'s' if args.replicas > 1 else ''}, one consumer group)")
        instances = await start_instances(stack, "followup", args.replicas)
        await publish(stack.bootstrap, clinics)
        child = subprocess.Popen(  # noqa: ASYNC220 - our own script, started once
            [sys.executable, __file__, "--passthrough", stack.bootstrap],
            stdout=subprocess.DEVNULL,
        )
        bare_cpu = CpuMeter(stack, [child.pid])
        followup_cpu = CpuMeter(stack, [instance.process.pid() for instance in instances])
        await asyncio.sleep(3)  # let both consumer groups settle
        ids = [c.clinic_id for c in clinics]
        warm = max(50, args.count // 20)
        log(f"warm-up ({warm} each)")
        await run_path(
            "warm", stack.bootstrap, BARE_IN, BARE_OUT, bare_ident, visit_records(warm, ids, "wb"), args.rate
        )
        await run_path(
            "warm", stack.bootstrap, "visit.completed", "followup.scheduled", check_in_ident,
            visit_records(warm, ids, "wf"), args.rate,
        )  # fmt: skip
        log(f"bare passthrough: {args.count} records at {args.rate}/s")
        bare = await run_path(
            "bare", stack.bootstrap, BARE_IN, BARE_OUT, bare_ident, visit_records(args.count, ids, "b"), args.rate,
            bare_cpu,
        )  # fmt: skip
        log(f"followup: {args.count} visits at {args.rate}/s")
        fu = await run_path(
            "followup", stack.bootstrap, "visit.completed", "followup.scheduled", check_in_ident,
            visit_records(args.count, ids, "f"), args.rate, followup_cpu,
        )  # fmt: skip
        fu["plans_per_s"] = fu["throughput_per_s"] * 2  # check-in + recall per visit
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        return {
            "benchmark": "followup_planning",
            "rate_per_s": args.rate,
            "count": args.count,
            "replicas": args.replicas,
            "machine": machine(),
            "paths": [bare, fu],
            "ratio_p99_followup_vs_bare": fu["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else None,
            "ratio_p50_followup_vs_bare": fu["p50_ms"] / bare["p50_ms"] if bare["p50_ms"] else None,
        }
    finally:
        await asyncio.to_thread(stack.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=1, help="followup instances in one consumer group")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--passthrough", metavar="BOOTSTRAP")
    args = parser.parse_args()
    if args.passthrough:
        asyncio.run(passthrough(args.passthrough))
        return
    result = asyncio.run(main_async(args))
    print(
        f"followup planning benchmark: {args.count} visit.completed at {args.rate:g}/s, {args.replicas} followup"
        f" instance(s) ({result['machine']}; load average {os.getloadavg()[0]:.1f})"
    )
    print_paths(result["paths"], "events/s", "visit")
    fu = result["paths"][1]
    print(f"followup plans/s: {fu['plans_per_s']:.1f} (2 per visit)")
    print(
        f"followup / bare: p50 x{result['ratio_p50_followup_vs_bare']:.2f},"
        f" p99 x{result['ratio_p99_followup_vs_bare']:.2f}"
    )
    if args.json:
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
