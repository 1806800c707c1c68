"""reviews: visit.completed -> review.scheduled, and the patient's feedback page (render and submit).

Three measurements on one stack (Kafka, PostgreSQL, the reviews service), each next to a baseline
measured in the same run:

- scheduling: visits completed now at clinics where it is mid-day, paced at `--rate`; latency from
  each visit's intended send time to a reader seeing its review.scheduled (the patient lock, the
  consent and cap reads, the request row, the send timer and the event in one transaction, the
  relay). Baseline: followup_planning.py's bare passthrough (consume, produce, commit) on the same
  broker, same rate and count.
- the page: `--pages` feedback links, made by the service itself (visits completed 2 h ago fall due at
  once; their message.requested carries the signed link), then GET each link's page and POST an
  answer (scores 1-5 in turn: a low one also opens a recovery task), paced at `--page-rate`. Latency
  from the intended send time to the answer. Baseline: GET /healthz of the same process (its
  operations port), at the same rate and count.

The per-link and per-address rate limits of the page are lifted for the run (FRONTDESK_RATE_LIMITS):
every request comes from one loopback address.

Run: `.venv/bin/python benchmarks/reviews_requests.py [--rate 100] [--count 2000] [--pages 320] [--page-rate 50]
[--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from followup_planning import (
    BARE_IN,
    BARE_OUT,
    CpuMeter,
    Sink,
    bare_ident,
    create_topics,
    log,
    machine,
    percentile,
    print_paths,
    run_path,
    until_known,
)
from followup_sending import midday_zone

from frontdesk.common.cloudevents import decode, encode
from frontdesk.common.contracts import ClinicConfig, VisitCompleted
from frontdesk.common.kafka import make_producer
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack

HERE = Path(__file__).resolve().parent
SITES = [{"site": "google", "url": "https://g.page/r/bench/review"}]


def bench_clinics(run: str, zone: str, count: int = 10) -> list[ClinicConfig]:
    return [
        ClinicConfig.model_validate(
            {
                "clinic_id": f"bench-rv-{run}-{n}",
                "name": f"Bench Reviews Clinic {n}",
                "timezone": zone,
                "phone": {"answering_service": "bench-vendor"},
                "reviews": {"review_sites": SITES},
            }
        )
        for n in range(count)
    ]


def visits(count: int, clinic_ids: list[str], tag: str, ago: timedelta = timedelta(0)) -> list[tuple[str, Any]]:
    out = []
    for n in range(count):
        visit = VisitCompleted(
            visit_id=f"rv-{tag}-{n}",
            patient_id=f"rp-{tag}-{n}",
            clinic_id=clinic_ids[n % len(clinic_ids)],
            provider_id="dr-bench",
            completed_at=datetime.now(UTC) - ago,
        )
        out.append((visit.visit_id, encode(visit, source="frontdesk/bench")))
    return out


def scheduled_ident(record: Any) -> str | None:
    with contextlib.suppress(Exception):
        return str(decode(record.topic, record.value, record.headers).data.visit_id)  # type: ignore[attr-defined]
    return None


class LinkCollector:
    """An ident for message.requested that keeps each review request's feedback link (by visit id)."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    def __call__(self, record: Any) -> str | None:
        with contextlib.suppress(Exception):
            data = decode(record.topic, record.value, record.headers).data
            visit_id = data.message_request_id.removeprefix("reviews:rr-")  # type: ignore[attr-defined]
            self.links[visit_id] = data.variables["feedback_link"]  # type: ignore[attr-defined]
            return visit_id
        return None


async def paced_requests(
    name: str, count: int, rate: float, call: Callable[[int], Awaitable[httpx.Response]]
) -> dict[str, Any]:
    """`count` requests at `rate` (open loop: a slow answer does not delay the next request); latency
    from each request's intended send time to its answer."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(n: int, due: int) -> None:
        response = await call(n)
        latencies.append((time.perf_counter_ns() - due) / 1e6)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    tasks = []
    start = time.perf_counter_ns() + 100_000_000
    for n in range(count):
        due = start + int(n * 1e9 / rate)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "path": name,
        "sent": count,
        "received": len(latencies),
        "statuses": statuses,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


async def feedback_links(bootstrap: str, clinic_ids: list[str], count: int, run: str) -> list[str]:
    """`count` signed feedback links, from visits completed long enough ago to fall due at once."""
    collector = LinkCollector()
    producer = make_producer(bootstrap, client_id="bench-load")
    await producer.start()
    records = visits(count, clinic_ids, f"{run}-l", ago=timedelta(hours=2, minutes=1))
    async with Sink(bootstrap, "message.requested", collector) as sink:
        for _, record in records:
            await producer.send(record.topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
        await sink.wait_for([visit_id for visit_id, _ in records], timeout=120)
    await producer.stop()
    return list(collector.links.values())


async def page_paths(url: str, ops_url: str, links: list[str], rate: float) -> list[dict[str, Any]]:
    paths = [urlsplit(link).path for link in links]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        healthz = await paced_requests("healthz", len(paths), rate, lambda n: client.get(ops_url + "/healthz"))
        render = await paced_requests("render", len(paths), rate, lambda n: client.get(paths[n]))
        submit = await paced_requests(
            "submit", len(paths), rate, lambda n: client.post(paths[n], data={"score": str(n % 5 + 1)})
        )
    return [healthz, render, submit]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="rv-bench-"))
    stack = LocalStack.ephemeral(state)
    stack.extra_env["FRONTDESK_RATE_LIMITS"] = json.dumps({"feedback-pages": 10**6, "feedback-clients": 10**6})
    run = uuid.uuid4().hex[:6]
    child: subprocess.Popen[bytes] | None = None
    try:
        log("starting Kafka and PostgreSQL")
        await asyncio.to_thread(stack.start_infrastructure)
        await create_topics(stack.bootstrap, BARE_IN, BARE_OUT)
        reviews = stack.service("reviews")
        log("starting reviews")
        reviews.start()
        clinics = bench_clinics(run, midday_zone())
        await publish(stack.bootstrap, clinics)
        await until_known(reviews, clinics)
        child = subprocess.Popen(  # noqa: ASYNC220 - the planning benchmark's passthrough, started once
            [sys.executable, str(HERE / "followup_planning.py"), "--passthrough", stack.bootstrap],
            stdout=subprocess.DEVNULL,
        )
        await asyncio.sleep(3)  # let both consumer groups settle
        ids, b = [c.clinic_id for c in clinics], stack.bootstrap
        warm = max(50, args.count // 20)
        log(f"warm-up ({warm} each)")
        await run_path("warm", b, BARE_IN, BARE_OUT, bare_ident, visits(warm, ids, f"{run}-wb"), args.rate)
        await run_path("warm", b, "visit.completed", "review.scheduled", scheduled_ident,
                       visits(warm, ids, f"{run}-wr"), args.rate)  # fmt: skip
        log(f"bare passthrough: {args.count} records at {args.rate:g}/s")
        bare = await run_path(
            "bare", b, BARE_IN, BARE_OUT, bare_ident, visits(args.count, ids, f"{run}-b"), args.rate,
            CpuMeter(stack, [child.pid]),
        )  # fmt: skip
        log(f"reviews: {args.count} visit.completed at {args.rate:g}/s")
        scheduling = await run_path(
            "reviews", b, "visit.completed", "review.scheduled", scheduled_ident,
            visits(args.count, ids, f"{run}-r"), args.rate, CpuMeter(stack, [reviews.process.pid()]),
        )  # fmt: skip
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        log(f"making {args.pages} feedback links")
        links = await feedback_links(b, ids, args.pages, run)
        log(f"feedback page: {len(links)} renders and answers at {args.page_rate:g}/s, healthz as the baseline")
        await page_paths(reviews.url, reviews.ops_url, links[: min(20, len(links))], args.page_rate)  # warm-up
        pages = await page_paths(reviews.url, reviews.ops_url, links[20:], args.page_rate)
        healthz = pages[0]["p99_ms"]
        return {
            "benchmark": "reviews_requests",
            "rate_per_s": args.rate,
            "count": args.count,
            "page_rate_per_s": args.page_rate,
            "machine": machine(),
            "scheduling": [bare, scheduling],
            "ratio_p99_scheduling_vs_bare": scheduling["p99_ms"] / bare["p99_ms"] if bare["p99_ms"] else None,
            "pages": pages,
            "ratio_p99_render_vs_healthz": pages[1]["p99_ms"] / healthz if healthz else None,
            "ratio_p99_submit_vs_healthz": pages[2]["p99_ms"] / healthz if healthz else None,
        }
    finally:
        if child is not None and child.poll() is None:
            child.kill()
        await asyncio.to_thread(stack.stop)


def report(args: argparse.Namespace, result: dict[str, Any], load_before: str) -> None:
    print(
        f"reviews benchmark: {args.count} visit.completed at {args.rate:g}/s; feedback page at {args.page_rate:g}/s"
        f" ({result['machine']}; /proc/loadavg before: {load_before})"
    )
    print_paths(result["scheduling"], "per s", "visit")
    print(f"review.scheduled / bare: p99 x{result['ratio_p99_scheduling_vs_bare']:.2f}")
    print(f"{'page':<10}{'requests':>10}{'':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  statuses")
    for p in result["pages"]:
        print(
            f"{p['path']:<10}{p['received']:>10}{'':>10}{p['p50_ms']:>10.1f}{p['p99_ms']:>10.1f}{p['max_ms']:>10.1f}"
            f"  {p['statuses']}"
        )
    print(
        f"render / healthz: p99 x{result['ratio_p99_render_vs_healthz']:.2f};"
        f" submit / healthz: p99 x{result['ratio_p99_submit_vs_healthz']:.2f}"
    )
    print(f"/proc/loadavg after: {Path('/proc/loadavg').read_text().strip()}")
    if args.json:
        print(json.dumps(result, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=100.0, help="visit.completed per second")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=320, help="feedback links (the first 20 warm up)")
    parser.add_argument("--page-rate", type=float, default=50.0, help="page requests per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().strip()
    report(args, asyncio.run(main_async(args)), load_before)


if __name__ == "__main__":
    main()
