"""Time to a human under load: call.received -> call.answered at 200 calls/s, with the vendors
answering and with a primary vendor that goes silent, next to the received -> routed latency of the
same runs and a bare aiokafka passthrough measured in the same run.

The clinics are call_router_routing.py's (6 clinics x 10 receptionists who never answer, so an
offer rings out and the call moves on; primary vendor bench-vendor-a, secondary bench-vendor-b; the
default budget of 3 rings x 6 s and the default vendor answer target). A stand-in answering service
(its own process) plays both vendors: each call handed to one of them is answered ANSWER_AFTER
seconds later on that vendor's topic, once per call (the first vendor to pick up gets the caller, as
on a phone network).

Three measurements, one after the other, on one broker and one router:
1. the bare passthrough (roundtrip.py): the baseline of the received -> routed latencies;
2. vendors answer: warm-up, then the measured calls;
3. primary silent: warm-up with both vendors answering, then, as the measured calls start, the
   stand-in stops answering for bench-vendor-a (SIGUSR1), as a vendor whose operators all went quiet
   at once while its systems stayed up.

Time to a human is measured per measured call from broker record timestamps (call.received as the
load generator produced it, the first call.answered as the stand-in produced it); the calls still
waiting when their budget ended are classified by frontdesk.tools.time_to_human (router's reason or
vendor's). The received -> routed columns are roundtrip.py's (from the intended send time).

Run: `make bench`, or `.venv/bin/python benchmarks/call_router_time_to_human.py [--rate 200]
[--count 3000] [--warmup 5000] [--json]`. Results: benchmarks/README.md ("time to a human").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import call_router_routing
import roundtrip
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from frontdesk.common.cloudevents import MalformedEvent, decode, encode
from frontdesk.common.contracts import CallAnswered, ClinicConfig, vendor_events_topic
from frontdesk.common.kafka import make_producer, topic_partitions
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.time_to_human import TimeToHuman, build_timelines, summarize

PRIMARY, SECONDARY = call_router_routing.VENDORS
ANSWER_AFTER = call_router_routing.ANSWER_AFTER
TOPICS = (
    "call.received",
    "call.routed",
    "call.offered",
    "call.overflowed",
    *map(vendor_events_topic, (PRIMARY, SECONDARY)),
)
COUNT, WARMUP = 3000, 5000  # 15 s measured after 25 s of warm-up at 200/s, as call_router_routing.py
ANSWER_TIMEOUT = 90.0  # seconds to wait for the last measured call's answer


# --- the stand-in answering service (a child process) ------------------------------------------------


async def stand_in_vendor(bootstrap: str, ready_file: str) -> None:
    """Answer every call.overflowed on the bench vendors' topics ANSWER_AFTER s later, once per call;
    after SIGUSR1, nothing handed to PRIMARY is answered any more. Touches `ready_file` once it holds
    its partitions."""
    loop = asyncio.get_running_loop()
    silenced, stop = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, silenced.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-tth-vendor-{uuid.uuid4().hex[:8]}",
        # From the beginning: nothing is handed to a vendor before the first scenario, and a call handed
        # over while this consumer joins must still be answered, or its vendor would be marked failed.
        auto_offset_reset="earliest",
        metadata_max_age_ms=2000,
    )
    joined = Joined()
    consumer.subscribe(pattern=r"^vendor\.bench-vendor-[ab]\.calls$", listener=joined)
    producer = make_producer(bootstrap, client_id="bench-tth-vendor", linger_ms=0)
    await consumer.start()
    await producer.start()
    answered: set[str] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def answer(vendor_id: str, call_id: str, clinic_id: str) -> None:
        await asyncio.sleep(ANSWER_AFTER)
        if call_id in answered or (silenced.is_set() and vendor_id == PRIMARY):
            return  # the other vendor got the caller first, or this one has gone quiet
        answered.add(call_id)
        event = CallAnswered(
            call_id=call_id,
            clinic_id=clinic_id,
            answered_at=datetime.now(UTC),
            answered_by_kind="answering_service",
            answered_by_id=vendor_id,
        )
        record = encode(event, source=f"bench/{vendor_id}", topic=vendor_events_topic(vendor_id))
        await producer.send(record.topic, record.value, key=record.key, headers=record.headers)

    async def consume() -> None:
        async for record in consumer:
            vendor_id = record.topic.split(".")[1]
            if ce_type(record) != "call.overflowed" or (silenced.is_set() and vendor_id == PRIMARY):
                continue
            call = json.loads(record.value or b"{}")
            task = asyncio.create_task(answer(vendor_id, call["call_id"], call["clinic_id"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    consuming = asyncio.create_task(consume())
    await joined.assigned.wait()
    await asyncio.to_thread(Path(ready_file).touch)
    try:
        await asyncio.wait({consuming, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        consuming.cancel()
        await consumer.stop()
        await producer.stop()


class Joined(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped here
    def __init__(self) -> None:
        self.assigned = asyncio.Event()

    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[object]) -> None:
        if assigned:
            self.assigned.set()


def ce_type(record: ConsumerRecord[bytes, bytes]) -> str | None:
    return next((v.decode() for k, v in record.headers if k == "ce_type"), None)


class StandInVendor:
    def __init__(self, stack: LocalStack) -> None:
        self._ready = stack.state_dir / f"bench-tth-vendor-{uuid.uuid4().hex[:8]}.ready"
        self._argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--stand-in-vendor",
            stack.bootstrap,
            str(self._ready),
        ]
        self._log = stack.state_dir / "bench-tth-vendor.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[StandInVendor]:
        with open(self._log, "ab") as out:
            self._proc = subprocess.Popen(
                self._argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            yield self
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until the stand-in holds its partitions: a call handed over before would be answered late,
        its vendor would miss its answer target, and the router would skip that vendor for 5 minutes."""
        deadline = time.monotonic() + timeout
        while not self._ready.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stand-in vendor got no partitions in {timeout:g} s; see {self._log}")
            await asyncio.sleep(0.2)

    def silence_primary(self) -> int:
        """From now on the primary answers nothing; returns when, in epoch ms."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGUSR1)
        return int(time.time() * 1000)


# --- collecting the calls' records -----------------------------------------------------------------


class Records:
    """Every record of TOPICS from their current end, kept raw (decoded only after the measurement,
    so that this process, which also stamps the routed latencies, does no more work than the sink)."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self.raw: list[ConsumerRecord[bytes, bytes]] = []
        self._received: set[str] = set()  # measured calls, by call id
        self._answered: set[str] = set()
        self._scanned = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Records:
        partitions = await topic_partitions(self._bootstrap, list(TOPICS))
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False)
        await self._consumer.start()
        self._consumer.assign(partitions)
        for tp, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(tp, offset)
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
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                self.raw.extend(records)

    def _scan(self) -> None:
        """Note the measured calls received and answered among the records not looked at yet."""
        for r in self.raw[self._scanned :]:
            if r.topic == "call.received" or r.topic.endswith(".events"):
                call_id = json.loads(r.value or b"{}").get("call_id", "")
                if call_id.startswith("bench-") and not roundtrip.is_warmup(call_id):
                    (self._received if r.topic == "call.received" else self._answered).add(call_id)
        self._scanned = len(self.raw)

    async def wait_for_answers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._scan()
            if self._received and self._received <= self._answered:
                return
            await asyncio.sleep(1.0)
        roundtrip.log(f"WARNING: {len(self._received - self._answered)} measured calls unanswered after {timeout:g} s")

    def time_to_human(
        self, clinics: list[ClinicConfig], silent_from_ms: int | None
    ) -> tuple[TimeToHuman, Counter[str]]:
        """Time to a human of the measured calls, and how many were handed to each vendor first."""
        stamped = []
        for r in self.raw:
            with contextlib.suppress(MalformedEvent):
                stamped.append((r.timestamp, decode(r.topic, r.value, r.headers)))

        def silent_between(vendor: str, _start: int, end: int) -> bool:
            return silent_from_ms is not None and vendor == PRIMARY and end >= silent_from_ms

        timelines = build_timelines(stamped, {c.clinic_id: c for c in clinics}, silent_between)
        measured = [t for t in timelines if not roundtrip.is_warmup(t.call_id)]
        first_vendor = Counter(
            next((o.target for o in t.offers if o.kind == "answering_service"), "no vendor") for t in measured
        )
        return summarize(measured), first_vendor


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    routed: roundtrip.PathResult
    human: TimeToHuman
    first_vendor: Counter[str]  # measured calls by the vendor they were handed to first


async def scenario(
    name: str,
    settings: roundtrip.Settings,
    stack: LocalStack,
    service: ServiceProcess,
    clinics: list[ClinicConfig],
    vendor: StandInVendor,
    silence: bool,
) -> Scenario:
    silent_from: list[int] = []
    async with Records(stack.bootstrap) as records:
        roundtrip.log(f"{name}: received -> routed, then the answers")
        routed = await roundtrip.bench_frontdesk(
            settings,
            stack.bootstrap,
            clinics,
            service,
            on_measuring=(lambda: silent_from.append(vendor.silence_primary())) if silence else None,
        )
        await records.wait_for_answers(ANSWER_TIMEOUT)
        return Scenario(name, routed, *records.time_to_human(clinics, silent_from[0] if silent_from else None))


async def run(
    settings: roundtrip.Settings, stack: LocalStack, service: ServiceProcess
) -> tuple[roundtrip.PathResult, list[Scenario]]:
    suffix = uuid.uuid4().hex[:8]
    source, target = f"bench.in.{suffix}", f"bench.out.{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, roundtrip.BENCH_PARTITIONS, 1) for t in (source, target)])
        clinics = await call_router_routing.configure_clinics(stack.bootstrap, service)
        await roundtrip.wait_for_leaders(admin, [source, target])
        vendor = StandInVendor(stack)
        with vendor.running():  # from before the baseline, so that it has joined long before the first call
            bare = await roundtrip.bench_bare(settings, stack.bootstrap, clinics, stack.state_dir, source, target)
            await vendor.wait_ready()
            answering = await scenario("vendors answer", settings, stack, service, clinics, vendor, silence=False)
            silent = await scenario("primary silent", settings, stack, service, clinics, vendor, silence=True)
        return bare, [answering, silent]
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([source, target])
        await admin.close()


# --- reporting ----------------------------------------------------------------------------------------


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def report(bare: roundtrip.PathResult, scenarios: list[Scenario], settings: roundtrip.Settings, as_json: bool) -> None:
    b = bare.stats()
    budget = call_router_routing.bench_clinics()[0].phone.ring_budget_seconds
    print(
        f"\nTime to a human: {settings.count} calls per scenario at a constant {settings.rate:g} calls/s (after"
        f" {settings.warmup} warm-up calls); budget {budget:g} s; receptionists never answer; vendors answer"
        f" {ANSWER_AFTER:g} s after the hand-off (in 'primary silent', {PRIMARY} answers nothing from the first"
        f" measured call on). os.cpu_count()={os.cpu_count()}: numbers are noisy on a shared machine, read the ratios."
    )
    head = (
        f"{'scenario':<26}{'routed p50':>11}{'p99 ms':>9}{'p99/bare':>9}{'human p50':>10}{'p95':>7}{'p99':>7}"
        f"{'max s':>7}{'answered':>12}{'over budget':>12}{'router':>7}{'vendor':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    print(f"{bare.label:<26}{b['p50_ms']:>11.2f}{b['p99_ms']:>9.2f}{'1.00x':>9}")
    for s in scenarios:
        r, h, counts = s.routed.stats(), s.human, s.human.counts()
        p99_ratio = f"{roundtrip.ratio(r['p99_ms'], b['p99_ms']):.2f}x"
        print(
            f"{s.name:<26}{r['p50_ms']:>11.2f}{r['p99_ms']:>9.2f}{p99_ratio:>9}{_s(h.p50):>10}{_s(h.p95):>7}"
            f"{_s(h.p99):>7}{_s(h.max):>7}{f'{h.answered}/{h.calls}':>12}{len(h.over_budget):>12}"
            f"{counts['router']:>7}{counts['vendor']:>7}"
        )
    print("-" * len(head))
    answering, silent = scenarios
    if answering.human.p99 and silent.human.p99 and answering.human.p50 and silent.human.p50:
        print(
            f"primary silent / vendors answer: time to a human p50 {silent.human.p50 / answering.human.p50:.2f}x,"
            f" p99 {silent.human.p99 / answering.human.p99:.2f}x; p99 / budget: {answering.human.p99 / budget:.2f}"
            f" and {silent.human.p99 / budget:.2f}."
        )
    for s in scenarios:
        handed = ", ".join(f"{vendor} {n}" for vendor, n in sorted(s.first_vendor.items()))
        print(f"{s.name}: measured calls by the vendor they were handed to first: {handed}")
    if not silent.first_vendor.get(PRIMARY):
        print(f"NOTE: the router handed no measured call to {PRIMARY} in 'primary silent' (it was skipping it")
        print("already, after a missed answer target): that scenario measured the secondary alone.")
    for s in scenarios:
        for x in s.human.over_budget[:3]:
            print(f"  {s.name}, e.g. {x.format()}")
    for name, path in (("bare", bare), *((s.name, s.routed) for s in scenarios)):
        if path.saturated(settings.rate):
            print(
                f"SATURATED: {name} kept up with only {path.throughput:.0f} of {settings.rate:g} calls/s; its latencies"
                " (and the time to a human) are mostly queueing. Lower --rate to measure the path itself."
            )
    if as_json:
        print(
            json.dumps(
                {
                    "settings": {"rate_per_s": settings.rate, "count": settings.count, "warmup": settings.warmup},
                    "budget_s": budget,
                    "bare": bare.as_dict(settings.rate),
                    "scenarios": {
                        s.name: {
                            "routed": s.routed.as_dict(settings.rate),
                            "time_to_human_s": {"p50": s.human.p50, "p95": s.human.p95, "p99": s.human.p99},
                            "answered": s.human.answered,
                            "calls": s.human.calls,
                            "over_budget": s.human.counts(),
                        }
                        for s in scenarios
                    },
                }
            )
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--stand-in-vendor"]:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(stand_in_vendor(argv[1], argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    settings = roundtrip.Settings(args.rate, args.count, args.warmup, args.drain_timeout)
    roundtrip.quiet_logging()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-", ignore_cleanup_errors=True) as tmp:
        stack = LocalStack.ephemeral(Path(tmp))
        service = stack.service(roundtrip.SERVICE)
        try:
            stack.start_infrastructure()
            service.start()
            bare, scenarios = asyncio.run(run(settings, stack, service))
        except Exception:
            path = service.process.log_file
            if path.exists():
                print(*path.read_text(errors="replace").splitlines()[-20:], sep="\n", file=sys.stderr)
            raise
        finally:
            roundtrip.log("stopping")
            stack.stop()
    report(bare, scenarios, settings, args.json)
    return 0 if all(s.human.answered == s.human.calls for s in scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
