"""Round-trip latency of Frontdesk's reliable event path, against a bare aiokafka passthrough.

Two paths run one after the other on the same broker, in the same run, at the same constant offered
rate and record count:

- bare:      load generator -> bench.in -> a plain AIOKafkaConsumer (group, manual commit after each
             record) that re-produces each record to bench.out -> sink. It runs in its own process,
             like a service would.
- frontdesk: load generator -> call.received -> the call-router service process (CloudEvents decode,
             inbox claim, handler and outbox row in one PostgreSQL transaction, Kafka ack; then the
             outbox relay publishes) -> call.routed -> sink.

Latency is measured from the *intended* send time of each record (the paced schedule) to the moment
the sink sees its output, so a stall in the sender counts against the latency instead of hiding it
(coordinated omission). Both paths send the same bytes (an encoded call.received with its CloudEvents
headers, keyed by clinic) with the same producer settings, and both sinks are the same group-less
reader, so the difference between the rows is the Frontdesk plumbing.

Each row also shows the consumer's mean busy time per record. The bare passthrough takes one record
at a time (fetch to offset commit), so 1000/busy is the rate it can sustain; Frontdesk handles the
records of different partitions concurrently (start to database commit; offsets are committed in the
background), so its busy time also counts waiting behind the other records in flight. A path that cannot keep
up with the offered rate is reported as SATURATED: its latencies are then queueing time.

Run: `make bench` or `.venv/bin/python benchmarks/roundtrip.py [--rate 200] [--count 2000] [--json]`.
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, are used instead of an ephemeral local stack.
Exit status 0 when every record came through on both paths, 1 when some did not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import procstat
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from frontdesk.common.cloudevents import OutgoingRecord, encode
from frontdesk.common.contracts import CallReceived, CallRouted, ClinicConfig
from frontdesk.common.kafka import make_producer, topic_partitions
from frontdesk.common.logging import configure_logging
from frontdesk.tools.apply import load_clinics, publish
from frontdesk.tools.stack import LocalStack, ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
NETWORK = ROOT / "deploy" / "local" / "demo-network.yaml"
SERVICE = "call-router"
SOURCE = "frontdesk/bench"
BENCH_PARTITIONS = 6  # the same as call.received, so both paths spread over as many partitions
SENT_HEADER = "bench_sent_ns"
ID_HEADER = "bench_id"


# Default unmeasured records per path: 10 s at the default rate, for connections, group join and
# partition assignment, and for the freshly started broker's JIT compiler (with 100, the first path
# measured, the bare passthrough, had p99 outliers of 150-300 ms).
WARMUP = 2000


def log(message: str) -> None:
    # Progress goes to stderr so that stdout holds only the results (and the JSON line).
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the bare passthrough (runs in a child process) ------------------------------------------------


def is_warmup(ident: str) -> bool:
    return ident.rsplit("-", 1)[1].startswith("w")


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    return next((v.decode() for k, v in record.headers if k == name), None)


async def passthrough(bootstrap: str, source: str, target: str, group: str) -> dict[str, int]:
    """Consume `source`, produce each record unchanged to `target`, then commit its offset, until SIGTERM.

    Returns how long each record kept the consumer busy (from getting it to its commit): the bare
    counterpart of the services' frontdesk_handler_seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="bench-passthrough",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    # The same settings as a Frontdesk service's producer (acks=all, idempotent, no linger).
    producer = make_producer(bootstrap, client_id="bench-passthrough", linger_ms=0)
    await producer.start()
    await consumer.start()
    busy_ns: dict[str, int] = {}

    async def forward() -> None:
        async for record in consumer:
            started = time.perf_counter_ns()
            await producer.send_and_wait(target, record.value, key=record.key, headers=list(record.headers))
            # Commit only once the output is acknowledged: at-least-once, like the real path.
            await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
            if (ident := header(record, ID_HEADER)) is not None:
                busy_ns[ident] = time.perf_counter_ns() - started

    task = asyncio.create_task(forward())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises a failure of forward(), so the log shows it
    finally:
        await consumer.stop()
        await producer.stop()
    return busy_ns


class Passthrough:
    """The bare passthrough as a child OS process (a service gets its own process and event loop too)."""

    def __init__(self, bootstrap: str, source: str, target: str, state_dir: Path) -> None:
        self.log_file = state_dir / "bench-passthrough.log"
        self.stats_file = state_dir / f"bench-passthrough-{uuid.uuid4().hex[:8]}.json"
        self._argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--passthrough",
            bootstrap,
            source,
            target,
            f"bench-passthrough-{uuid.uuid4().hex[:8]}",
            str(self.stats_file),
        ]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_file, "ab") as out:
            # Own session: Ctrl-C reaches only us, and we stop the child in order.
            self._proc = subprocess.Popen(
                self._argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def check(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"the passthrough exited ({self._proc.returncode}); see {self.log_file}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def busy_ms(self) -> float | None:
        """Mean consumer busy time per measured record, once the process has exited."""
        try:
            busy = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return None
        measured = [ns for ident, ns in busy.items() if not is_warmup(ident)]
        return sum(measured) / len(measured) / 1e6 if measured else None


# --- load generator and sink ---------------------------------------------------------------------


class Sink:
    """Reads a topic from its current end without a consumer group (like EventTap) and stamps the
    arrival of each record it can identify. The same reader serves both paths."""

    def __init__(self, bootstrap: str, topic: str, identify: Callable[[ConsumerRecord[bytes, bytes]], str | None]):
        self._bootstrap = bootstrap
        self._topic = topic
        self._identify = identify
        self.arrived: dict[str, tuple[int, ConsumerRecord[bytes, bytes]]] = {}
        self.duplicates = 0
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sink:
        partitions = await topic_partitions(self._bootstrap, [self._topic])
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        consumer.assign(partitions)
        for tp, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(tp, offset)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter_ns()  # one fetch: every record in it became visible now
            for records in batches.values():
                for record in records:
                    ident = self._identify(record)
                    if ident is None:
                        continue
                    if ident in self.arrived:
                        self.duplicates += 1
                    else:
                        self.arrived[ident] = (now, record)
            if batches:
                self._changed.set()

    async def wait_for(self, idents: list[str], timeout: float, alive: Callable[[], None] = lambda: None) -> int:
        """Wait until every ident has arrived or `timeout` passes; return how many arrived."""
        deadline = time.monotonic() + timeout
        while True:
            seen = sum(1 for i in idents if i in self.arrived)
            if seen == len(idents) or time.monotonic() > deadline:
                return seen
            if self._task is not None and self._task.done():
                self._task.result()  # the sink failed: raise its error
            alive()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.5)


@dataclass
class Load:
    sent_ns: dict[str, int] = field(default_factory=dict)  # intended send time per ident
    max_lag_ms: float = 0.0  # how late the sender got behind its schedule, at worst


async def send_paced(
    producer: AIOKafkaProducer, idents: list[str], rate: float, build: Callable[[str, int], OutgoingRecord]
) -> Load:
    """Send one record per ident at a constant rate, each scheduled on an absolute clock so that
    sleep overshoot never accumulates into drift."""
    load = Load()
    interval_ns = 1e9 / rate
    start = time.perf_counter_ns() + 1_000_000
    deliveries = []
    for n, ident in enumerate(idents):
        due = start + int(n * interval_ns)
        ahead = due - time.perf_counter_ns()
        if ahead > 0:
            await asyncio.sleep(ahead / 1e9)
        load.max_lag_ms = max(load.max_lag_ms, (time.perf_counter_ns() - due) / 1e6)
        record = build(ident, due)
        # send() only queues the record; waiting for each ack here would pace by the broker, not the clock.
        deliveries.append(await producer.send(record.topic, record.value, key=record.key, headers=record.headers))
        load.sent_ns[ident] = due
    await asyncio.gather(*deliveries)  # every record was acknowledged (acks=all)
    return load


# --- results -------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every number reported was really observed)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


@dataclass
class PathResult:
    name: str
    label: str
    sent: int
    latencies_ms: list[float]
    duplicates: int
    window_s: float  # first intended send -> last arrival
    max_send_lag_ms: float
    busy_ms: float | None = None  # mean time one record is in the consumer's hands (see the module doc)
    sequential: bool = True  # one record at a time (so 1000/busy is its ceiling)
    timers: tuple[int, str] | None = None  # durable timers fired while measuring, p99 lateness under
    cpu_ms: float | None = None  # CPU the process under test used while measuring, per measured record
    cpu_ms_each: list[float] = field(default_factory=list)  # the same, per instance (replicas of a service)
    infra_cpu_ms: dict[str, float] = field(default_factory=dict)  # PostgreSQL's and the broker's, per record

    @property
    def received(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.received / self.window_s if self.window_s > 0 else float("nan")

    @property
    def capacity(self) -> float | None:
        """What one record at a time can sustain at most, given the busy time."""
        return 1000 / self.busy_ms if self.busy_ms and self.sequential else None

    def saturated(self, rate: float) -> bool:
        # Below the offered rate, records queue up and latency measures the queue, not the path.
        return self.throughput < 0.97 * rate

    def stats(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms)
        return {
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "p99_9_ms": percentile(ordered, 99.9),
            "max_ms": ordered[-1] if ordered else float("nan"),
        }

    def as_dict(self, rate: float) -> dict[str, Any]:
        return {
            "path": self.label,
            **{k: round(v, 3) for k, v in self.stats().items()},
            "throughput_per_s": round(self.throughput, 1),
            "saturated": self.saturated(rate),
            "consumer_busy_ms_per_record": None if self.busy_ms is None else round(self.busy_ms, 3),
            "cpu_ms_per_record": None if self.cpu_ms is None else round(self.cpu_ms, 3),
            "cpu_ms_per_record_each_instance": [round(ms, 3) for ms in self.cpu_ms_each],
            "infra_cpu_ms_per_record": {k: round(v, 3) for k, v in self.infra_cpu_ms.items()},
            "sent": self.sent,
            "received": self.received,
            "duplicates": self.duplicates,
            "max_send_lag_ms": round(self.max_send_lag_ms, 3),
        }


def summarise(name: str, label: str, load: Load, sink: Sink, latency_ns: Callable[[str, int, Any], int]) -> PathResult:
    latencies: list[float] = []
    last_arrival = 0
    for ident in load.sent_ns:
        if ident in sink.arrived:
            arrival, record = sink.arrived[ident]
            latencies.append(latency_ns(ident, arrival, record) / 1e6)
            last_arrival = max(last_arrival, arrival)
    first_sent = min(load.sent_ns.values())
    return PathResult(
        name=name,
        label=label,
        sent=len(load.sent_ns),
        latencies_ms=latencies,
        duplicates=sink.duplicates,
        window_s=(last_arrival - first_sent) / 1e9 if latencies else 0.0,
        max_send_lag_ms=load.max_lag_ms,
    )


# --- the two paths -------------------------------------------------------------------------------


def call_received(ident: str, clinics: list[ClinicConfig]) -> OutgoingRecord:
    """An encoded call.received; the clinic (the record key) rotates, so records spread over partitions."""
    clinic = clinics[int(ident.rsplit("-", 1)[1].lstrip("w")) % len(clinics)]
    event = CallReceived(
        call_id=ident,
        clinic_id=clinic.clinic_id,
        received_at=datetime.now(UTC),
        caller_token=f"tok-{ident}",
        intent="appointment",
    )
    return encode(event, source=SOURCE)


@dataclass
class Settings:
    rate: float
    count: int
    warmup: int
    drain_timeout: float


InfraCpu = Callable[[], dict[str, float | None]]


def infra_cpu(stack: LocalStack) -> InfraCpu:
    """What PostgreSQL (every backend) and the broker have used, when this run started them."""
    return lambda: {
        "postgres": procstat.postgres_cpu_seconds(stack.postgres.process.pid()),
        "kafka": procstat.cpu_seconds(stack.kafka.process.pid()),
    }


@dataclass
class PathSpec:
    """What differs between the two paths; run_path does the rest the same way for both."""

    name: str
    label: str
    out_topic: str
    build: Callable[[str, int], OutgoingRecord]  # (ident, intended send ns) -> record to send
    identify: Callable[[ConsumerRecord[bytes, bytes]], str | None]  # output record -> ident
    latency_ns: Callable[[str, int, ConsumerRecord[bytes, bytes]], int]  # (ident, arrival ns, record)
    alive: Callable[[], None]  # raises if the process under test died
    pids: Callable[[], list[int | None]]  # the process(es) under test: one, or a service's replicas
    before_measuring: Callable[[], Awaitable[None]] | None = None
    infra_cpu: InfraCpu = lambda: {}  # cumulative CPU seconds of the stack's servers


def record_cpu(result: PathResult, before: list[float | None], after: list[float | None], records: int) -> None:
    """CPU per measured record of each instance under test, and of all of them together."""
    each = [
        (b2 - b1) * 1000 / records for b1, b2 in zip(before, after, strict=True) if b1 is not None and b2 is not None
    ]
    result.cpu_ms_each = each
    result.cpu_ms = sum(each) if each else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection in this process (the load generator and the sink) while measuring.

    A full collection over the records held here stalled the sender for about 60 ms, and the sink's
    arrival stamps with it: time that would count against the path under test. Reference counting
    still frees what it can, and the records of one run fit in memory."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def run_path(spec: PathSpec, settings: Settings, bootstrap: str) -> PathResult:
    run = uuid.uuid4().hex[:8]
    warm = [f"bench-{run}-w{i}" for i in range(settings.warmup)]
    measured = [f"bench-{run}-{i}" for i in range(settings.count)]
    producer = make_producer(bootstrap, client_id=f"bench-load-{spec.name}")
    await producer.start()
    try:
        async with Sink(bootstrap, spec.out_topic, spec.identify) as sink:
            # Warm-up: connections, group join and partition assignment, cold caches; not measured.
            log(f"{spec.label}: warming up with {len(warm)} records")
            await send_paced(producer, warm, settings.rate, spec.build)
            seen = await sink.wait_for(warm, timeout=60, alive=spec.alive)
            if seen < len(warm):
                raise RuntimeError(f"{spec.label}: only {seen}/{len(warm)} warm-up records came through in 60 s")
            if spec.before_measuring is not None:
                await spec.before_measuring()
            log(f"{spec.label}: measuring {settings.count} records at {settings.rate:g}/s")
            cpu_before = [procstat.cpu_seconds(pid) for pid in spec.pids()]
            infra_before = spec.infra_cpu()
            with collector_paused():
                load = await send_paced(producer, measured, settings.rate, spec.build)
                seen = await sink.wait_for(measured, timeout=settings.drain_timeout, alive=spec.alive)
            cpu_after = [procstat.cpu_seconds(pid) for pid in spec.pids()]
            infra_after = spec.infra_cpu()
            if seen < len(measured):
                log(f"{spec.label}: WARNING only {seen}/{len(measured)} arrived within {settings.drain_timeout:g} s")
            result = summarise(spec.name, spec.label, load, sink, spec.latency_ns)
            record_cpu(result, cpu_before, cpu_after, len(measured))
            result.infra_cpu_ms = {
                name: (after - before) * 1000 / len(measured)
                for name, after in infra_after.items()
                if after is not None and (before := infra_before.get(name)) is not None
            }
            return result
    finally:
        await producer.stop()


async def bench_bare(
    settings: Settings,
    bootstrap: str,
    clinics: list[ClinicConfig],
    state_dir: Path,
    source: str,
    target: str,
    forwarder_type: type[Passthrough] = Passthrough,
    label: str = "bare aiokafka passthrough",
    infra: InfraCpu = lambda: {},
) -> PathResult:
    forwarder = forwarder_type(bootstrap, source, target, state_dir)
    try:
        forwarder.start()

        def build(ident: str, due_ns: int) -> OutgoingRecord:
            # The same bytes as the Frontdesk path, plus the id and the send time as headers.
            record = call_received(ident, clinics)
            headers = [*record.headers, (ID_HEADER, ident.encode()), (SENT_HEADER, str(due_ns).encode())]
            return OutgoingRecord(source, record.key, record.value, headers)

        def latency_ns(_ident: str, arrival: int, record: ConsumerRecord[bytes, bytes]) -> int:
            return arrival - int(header(record, SENT_HEADER) or 0)  # the send time came through Kafka

        spec = PathSpec(
            name="bare",
            label=label,
            out_topic=target,
            build=build,
            identify=lambda record: header(record, ID_HEADER),
            latency_ns=latency_ns,
            alive=forwarder.check,
            pids=lambda: [forwarder.pid()],
            infra_cpu=infra,
        )
        result = await run_path(spec, settings, bootstrap)
        await asyncio.to_thread(forwarder.stop)  # it writes its busy times as it exits
        result.busy_ms = forwarder.busy_ms()
        return result
    finally:
        await asyncio.to_thread(forwarder.stop)


def service_metrics(service_urls: list[str]) -> dict[str, dict[str, float]]:
    """From the /metrics of every instance of the service, added up: frontdesk_handler_seconds for
    call.received ("handler": sum and count) and the buckets of frontdesk_timer_lateness_seconds, all
    timer kinds together ("timers": upper bound -> cumulative count)."""
    found: dict[str, dict[str, float]] = {"handler": {"sum": 0.0, "count": 0.0}, "timers": {}}
    for service_url in service_urls:
        with urllib.request.urlopen(service_url + "/metrics", timeout=5) as response:  # noqa: S310 - our http URL
            families = text_string_to_metric_families(response.read().decode())
        for family in families:
            for sample in family.samples:
                if family.name == "frontdesk_handler_seconds" and sample.labels.get("topic") == CallReceived.event_type:
                    kind = sample.name.rsplit("_", 1)[1]
                    if kind in found["handler"]:
                        found["handler"][kind] += sample.value
                elif family.name == "frontdesk_timer_lateness_seconds" and sample.name.endswith("_bucket"):
                    le = sample.labels["le"]
                    found["timers"][le] = found["timers"].get(le, 0.0) + sample.value
    return found


def timer_lateness(before: dict[str, float], after: dict[str, float]) -> tuple[int, str] | None:
    """Timers fired between two snapshots and the bucket bound their p99 lateness is under."""
    counts = sorted(((float(le), after[le] - before.get(le, 0.0)) for le in after), key=lambda b: b[0])
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return None
    bound = next(le for le, n in counts if n >= 0.99 * total)
    return int(total), "more than 300 s" if bound == float("inf") else f"{bound:g} s"


async def bench_frontdesk(
    settings: Settings,
    bootstrap: str,
    clinics: list[ClinicConfig],
    service: ServiceProcess,
    on_measuring: Callable[[], None] | None = None,
    replicas: list[ServiceProcess] | None = None,
    infra: InfraCpu = lambda: {},
) -> PathResult:
    """The Frontdesk path; `on_measuring()` is called as the measured records start (after the warm-up).
    `replicas`: every instance of the service in its consumer group (default: `service` alone)."""
    instances = replicas or [service]
    ops_urls = [instance.ops_url for instance in instances]
    sent_ns: dict[str, int] = {}
    metrics_before: list[dict[str, dict[str, float]]] = []

    def build(ident: str, due_ns: int) -> OutgoingRecord:
        sent_ns[ident] = due_ns  # call.routed carries no header of ours: remember the send time here
        return call_received(ident, clinics)

    def identify(record: ConsumerRecord[bytes, bytes]) -> str | None:
        # Only the first routing decision: a call can be routed again later (a ring timeout, a vendor
        # failover), and those are timer-driven, not part of the round trip.
        routed = json.loads(record.value or b"{}")
        call_id = routed.get("call_id", "")
        return call_id if call_id.startswith("bench-") and routed.get("attempt", 1) == 1 else None

    def alive() -> None:
        for instance in instances:
            if not instance.process.running():
                raise RuntimeError(f"{SERVICE} exited; see {instance.process.log_file}")

    async def before_measuring() -> None:
        metrics_before.append(await asyncio.to_thread(service_metrics, ops_urls))
        if on_measuring is not None:
            on_measuring()

    spec = PathSpec(
        name="frontdesk",
        label=f"frontdesk {SERVICE}",
        out_topic=CallRouted.event_type,
        build=build,
        identify=identify,
        latency_ns=lambda ident, arrival, _record: arrival - sent_ns[ident],
        alive=alive,
        pids=lambda: [instance.process.pid() for instance in instances],
        before_measuring=before_measuring,
        infra_cpu=infra,
    )
    result = await run_path(spec, settings, bootstrap)
    after, before = await asyncio.to_thread(service_metrics, ops_urls), metrics_before[0]
    handled = after["handler"]["count"] - before["handler"]["count"]
    if handled > 0:
        result.busy_ms = (after["handler"]["sum"] - before["handler"]["sum"]) / handled * 1000
    result.timers = timer_lateness(before["timers"], after["timers"])
    result.sequential = False
    return result


async def wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 30) -> None:
    """Wait until every partition of new `topics` has a leader, so no client starts on a half-made topic."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(topics)
        if all(
            d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
            for d in described
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {topics} have no leaders after {timeout:g} s")
        await asyncio.sleep(0.2)


async def configure_clinics(bootstrap: str, service: ServiceProcess, timeout: float = 60) -> list[ClinicConfig]:
    """Publish the demo network and wait until call-router has projected it (else it dead-letters calls)."""
    clinics = load_clinics(NETWORK)
    await publish(bootstrap, clinics)
    wanted = {c.clinic_id for c in clinics}
    deadline = time.monotonic() + timeout
    while not wanted <= await asyncio.to_thread(service.known_clinics):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{SERVICE} did not learn the clinics within {timeout:g} s")
        await asyncio.sleep(0.2)
    return clinics


async def run_benchmark(settings: Settings, stack: LocalStack, service: ServiceProcess) -> list[PathResult]:
    # Per-run topic names: on a shared broker a rerun never sees an earlier run's records. Created
    # first, so their partition leaders have settled by the time the bare path starts.
    suffix = uuid.uuid4().hex[:8]
    source, target = f"bench.in.{suffix}", f"bench.out.{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, BENCH_PARTITIONS, 1) for t in (source, target)])
        clinics = await configure_clinics(stack.bootstrap, service)
        log(f"{SERVICE} knows the {len(clinics)} demo clinics")
        await wait_for_leaders(admin, [source, target])
        infra = infra_cpu(stack)
        bare = await bench_bare(settings, stack.bootstrap, clinics, stack.state_dir, source, target, infra=infra)
        replicas = stack.replicas(SERVICE)
        frontdesk = await bench_frontdesk(settings, stack.bootstrap, clinics, service, replicas=replicas, infra=infra)
        return [bare, frontdesk]
    finally:
        with contextlib.suppress(Exception):  # an ephemeral broker goes away anyway
            await admin.delete_topics([source, target])
        await admin.close()


# --- reporting -----------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def cpu_lines(results: list[PathResult]) -> list[str]:
    """CPU per measured record of each path: its process(es), one figure per replica, and the servers'."""
    lines = []
    for r in results:
        if r.cpu_ms is None:
            continue
        each = " + ".join(f"{ms:.2f}" for ms in r.cpu_ms_each)
        replicas = f" ({len(r.cpu_ms_each)} replicas: {each})" if len(r.cpu_ms_each) > 1 else ""
        servers = ", ".join(f"{name} {ms:.2f}" for name, ms in r.infra_cpu_ms.items())
        lines.append(f"CPU ms per record, {r.label}: {r.cpu_ms:.2f}{replicas}" + (f"; {servers}" if servers else ""))
    return lines


def report(results: list[PathResult], settings: Settings, infra: dict[str, str], as_json: bool) -> None:
    bare, frontdesk = results
    b, f = bare.stats(), frontdesk.stats()
    ratios = {
        "p50": ratio(f["p50_ms"], b["p50_ms"]),
        "p99": ratio(f["p99_ms"], b["p99_ms"]),
        "throughput": ratio(frontdesk.throughput, bare.throughput),
    }
    machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    print(
        f"\nRound trip: {settings.count} records per path at a constant {settings.rate:g} records/s offered "
        f"(after {settings.warmup} warm-up records); latency from intended send to arrival downstream."
    )
    print(
        f"Machine: os.cpu_count()={machine['cpu_count']}, {machine['platform']}, Python {machine['python']}. "
        f"Kafka: {infra['kafka']}; PostgreSQL: {infra['postgres']}; {BENCH_PARTITIONS} partitions; "
        f"producers acks=all, idempotent; linger_ms=2 for the load, 0 for the services and the passthrough."
    )
    columns = f"{'path':<28}{'p50 ms':>10}{'p99 ms':>10}{'p99.9 ms':>10}{'max ms':>10}{'records/s':>11}{'received':>11}"
    columns += f"{'busy ms':>9}{'cpu ms':>8}"
    print("\n" + columns + "\n" + "-" * len(columns))
    for r in results:
        s = r.stats()
        busy = "n/a" if r.busy_ms is None else f"{r.busy_ms:.2f}"
        cpu = "n/a" if r.cpu_ms is None else f"{r.cpu_ms:.2f}"
        print(
            f"{r.label:<28}{s['p50_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['p99_9_ms']:>10.2f}{s['max_ms']:>10.2f}"
            f"{r.throughput:>11.1f}{f'{r.received}/{r.sent}':>11}{busy:>9}{cpu:>8}"
        )
    print("-" * len(columns))
    p50, p99, tput = f"{ratios['p50']:.2f}x", f"{ratios['p99']:.2f}x", f"{ratios['throughput']:.3f}x"
    print(f"{'frontdesk / bare':<28}{p50:>10}{p99:>10}{'':>20}{tput:>11}")
    print(
        "\nbusy ms: mean time one record is in its consumer's hands. The bare passthrough takes one record at a"
        " time, fetch to offset commit (1000/busy is its ceiling); Frontdesk handles several partitions' records"
        " at once, start to database commit (offsets are committed in the background)."
        "\ncpu ms: CPU (user + system) the process under test used while measuring, per measured record: for a"
        " service everything it did meanwhile (timers, answers, its outbox relay), not its database's or broker's."
    )
    print("\n".join(cpu_lines(results)))
    for r in results:
        if r.timers is not None:
            print(
                f"{r.label}: {r.timers[0]} durable timers fired while measuring,"
                f" 99% of them within {r.timers[1]} of their due time."
            )
    lag = max(r.max_send_lag_ms for r in results)
    print(f"Worst sender lag behind schedule: {lag:.2f} ms; duplicates seen: {sum(r.duplicates for r in results)}.")
    for r in results:
        if r.saturated(settings.rate):
            capacity = f" (about {r.capacity:.0f}/s from its busy time)" if r.capacity else ""
            print(
                f"SATURATED: {r.label} kept up with only {r.throughput:.0f} of {settings.rate:g} records/s{capacity};"
                " its latencies are mostly queueing and grow with --count. Lower --rate to measure the path itself."
            )
    if as_json:
        document = {
            "settings": {
                "rate_per_s": settings.rate,
                "count": settings.count,
                "warmup": settings.warmup,
                "partitions": BENCH_PARTITIONS,
                **infra,
            },
            "machine": machine,
            "paths": {r.name: r.as_dict(settings.rate) for r in results},
            "ratios_frontdesk_over_bare": {k: round(v, 3) for k, v in ratios.items()},
        }
        print(json.dumps(document))


# --- entry point ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="offered records per second (default 200)")
    parser.add_argument("--count", type=int, default=2000, help="measured records per path (default 2000)")
    parser.add_argument(
        "--warmup", type=int, default=WARMUP, help=f"unmeasured warm-up records per path (default {WARMUP})"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="seconds to wait for stragglers after the last send"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="instances of the service in its consumer group (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    # Internal: the child process that runs the bare passthrough.
    parser.add_argument(
        "--passthrough", nargs=5, metavar=("BOOTSTRAP", "SOURCE", "TARGET", "GROUP", "STATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.count <= 0 or args.warmup < 0 or args.replicas < 1:
        parser.error("--rate, --count and --replicas must be positive, --warmup not negative")
    return args


def quiet_logging() -> None:
    """The libraries' and the stack's logs: warnings only, and on stderr, so stdout is just the results."""
    configure_logging("bench", "WARNING", json_output=False)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)


def start_replicas(stack: LocalStack, count: int) -> None:
    """`count` instances of the service, sharing its database and consumer group (the group spreads the
    partitions over them); the first is `stack.service(SERVICE)`."""
    instances = [stack.replica(SERVICE, i) for i in range(count)]
    for instance in instances:
        instance.start(wait=False)
    for instance in instances:
        instance.wait_ready()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.passthrough:
        *where, stats_file = args.passthrough
        Path(stats_file).write_text(json.dumps(asyncio.run(passthrough(*where))))
        return 0
    settings = Settings(args.rate, args.count, args.warmup, args.drain_timeout)
    quiet_logging()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-", ignore_cleanup_errors=True) as tmp:
        # Honours KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL: only what they do not supply is started.
        stack = LocalStack.ephemeral(Path(tmp))
        infra = {
            "kafka": f"external {stack.bootstrap}" if stack.external_kafka else "ephemeral single-node KRaft",
            "postgres": "external" if stack.external_database else "ephemeral",
        }
        service = stack.service(SERVICE)
        try:
            log(f"starting infrastructure (Kafka: {infra['kafka']}, PostgreSQL: {infra['postgres']})")
            stack.start_infrastructure()
            log(
                f"starting {SERVICE}"
                + (f" ({args.replicas} replicas, one consumer group)" if args.replicas > 1 else "")
            )
            start_replicas(stack, args.replicas)
            results = asyncio.run(run_benchmark(settings, stack, service))
        except Exception:
            for path in (service.process.log_file, stack.state_dir / "bench-passthrough.log"):
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-20:]
                    print(f"--- last lines of {path.name} ---", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            log("stopping")
            stack.stop()  # our service process, and Kafka/PostgreSQL only if we started them
    report(results, settings, infra, args.json)
    return 0 if all(r.received == r.sent for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
