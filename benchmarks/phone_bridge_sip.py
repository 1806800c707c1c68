"""Real SIP calls through Kamailio, phone-bridge and call-router: INVITE -> 200 OK, and the bridge's own time.

An ephemeral stack (Kafka, PostgreSQL, call-router and phone-bridge only) and the SIP rig of the
tests (Kamailio + SIPp on loopback). Closed clinics, so every call goes to the clinic's answering
service at once (the router's first decision is the hand-over): the vendors are SIPp phones that
answer after ANSWER_MS. Two phases from one SIPp caller each: a steady clinic-network rate (--rate
calls/s; 2/s is a busy hour of a 40-clinic network at ~180 calls per clinic-hour peak) and a burst
(--burst calls/s). The baseline, measured in the same run: the same SIPp caller calling the same
kind of phone directly (no proxy, no bridge, no router), whose INVITE -> 200 OK is the phone's own
answer delay plus SIPp's overhead.

Reported: INVITE -> 200 OK p50/p99 per phase and for the baseline (SIPp's -trace_rtt), their ratio,
and the bridge's own time per routing answer (frontdesk_phone_bridge_decision_seconds, p99 as a
histogram bucket bound; target <= 5 ms) and how long questions waited for the router
(frontdesk_phone_bridge_router_wait_seconds).

Run: `.venv/bin/python benchmarks/phone_bridge_sip.py [--rate 2] [--count 40] [--burst 20] [--json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from frontdesk.common.contracts import ClinicConfig
from frontdesk.tools.apply import publish
from frontdesk.tools.ports import free_udp_port
from frontdesk.tools.sip_rig import SIP_DIR, SipRig
from frontdesk.tools.stack import LocalStack

CLINICS = 4
ANSWER_MS = 500


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _bucket_quantile(metrics: str, name: str, q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile q (Prometheus text format)."""
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= q * total)


def _clinics(rig: SipRig) -> list[ClinicConfig]:
    configs = []
    for i in range(CLINICS):
        phone = rig.phone(f"bench-vendor-{i}", "answers", answer_after_ms=ANSWER_MS)
        configs.append(
            ClinicConfig.model_validate(
                {
                    "clinic_id": f"bench-sip-{i}",
                    "name": f"SIP Bench Clinic {i}",
                    "timezone": "Asia/Kathmandu",
                    "phone": {
                        "answering_service": phone.name,
                        "vendors": [{"vendor_id": phone.name, "answer_target_seconds": 12}],
                        "sip": {"vendors": {phone.name: phone.uri}},
                    },
                }
            )
        )
    return configs


def _baseline(rig: SipRig, count: int, rate: float) -> list[float]:
    """The same caller straight to a phone that answers after ANSWER_MS: no proxy, bridge or router."""
    phone = rig.phone("bench-direct", "answers", answer_after_ms=ANSWER_MS)
    folder = rig.workdir / "baseline"
    folder.mkdir()
    args = ["sipp", "-i", "127.0.0.1", "-mp", str(free_udp_port()), "-cp", str(free_udp_port()), "-nostdin"]
    args += ["-sf", str(SIP_DIR / "scenarios" / "caller.xml"), "-s", "direct", "-m", str(count), "-d", "300"]
    args += ["-r", str(rate), "-l", str(count), "-trace_rtt", "-rtt_freq", "1", "-timeout", "120s"]
    args += ["-p", str(free_udp_port()), f"127.0.0.1:{phone.port}"]
    subprocess.run(args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=150, check=False)
    rows = [line.split(";") for f in folder.glob("*_rtt.csv") for line in f.read_text().splitlines()[1:]]
    return [float(r[1]) for r in rows if len(r) >= 2 and r[1].strip()]


def _phase(rig: SipRig, count: int, rate: float) -> list[float]:
    """`count` calls spread over the clinics, one SIPp caller per clinic, all at once."""
    per_clinic = max(count // CLINICS, 1)
    results: list[float] = []
    with ThreadPoolExecutor(CLINICS) as pool:
        futures = [
            pool.submit(rig.load, f"bench-sip-{i}", count=per_clinic, rate_per_second=rate / CLINICS)
            for i in range(CLINICS)
        ]
        for f in futures:
            results += f.result()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2.0, help="steady calls per second (network-wide)")
    parser.add_argument("--count", type=int, default=40, help="calls per phase")
    parser.add_argument("--burst", type=float, default=20.0, help="burst calls per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="frontdesk-bench-sip-"))
    stack = LocalStack.ephemeral(state)
    rig = SipRig(state / "sip", stack.bridge_sip_port)
    out: dict[str, object] = {}
    try:
        stack.start_infrastructure()
        bridge = stack.service("phone-bridge")
        stack.start_services(["call-router", "phone-bridge"])
        configs = _clinics(rig)
        asyncio.run(publish(stack.bootstrap, configs))
        deadline = time.monotonic() + 90
        wanted = {c.clinic_id for c in configs}
        while not (wanted <= bridge.known_clinics() and wanted <= stack.service("call-router").known_clinics()):
            assert time.monotonic() < deadline, "the services never learned the bench clinics"
            time.sleep(0.3)
        time.sleep(5)  # the vendors' topics are provisioned
        rig.start_proxy()
        _phase(rig, CLINICS * 2, args.rate)  # warm-up (connections, JIT of the broker)
        baseline = _baseline(rig, args.count, args.rate)
        steady = _phase(rig, args.count, args.rate)
        burst = _phase(rig, args.count, args.burst)
        with urllib.request.urlopen(bridge.ops_url + "/metrics", timeout=5) as response:  # noqa: S310 - loopback
            metrics = response.read().decode()
        for name, values in (("baseline", baseline), ("steady", steady), ("burst", burst)):
            out[name] = {
                "calls": len(values),
                "p50_ms": _pct(values, 0.5),
                "p99_ms": _pct(values, 0.99),
                "mean_ms": statistics.fmean(values) if values else None,
            }
        base = out["baseline"]["p99_ms"]  # type: ignore[index]
        out["p99_ratio_steady"] = out["steady"]["p99_ms"] / base if base else None  # type: ignore[index]
        out["p99_ratio_burst"] = out["burst"]["p99_ms"] / base if base else None  # type: ignore[index]
        decision = _bucket_quantile(metrics, "frontdesk_phone_bridge_decision_seconds", 0.99)
        wait = _bucket_quantile(metrics, "frontdesk_phone_bridge_router_wait_seconds", 0.99)
        out["bridge_decision_p99_ms_at_most"] = None if decision is None else decision * 1000
        out["router_wait_p99_ms_at_most"] = None if wait is None else wait * 1000
    finally:
        rig.stop()
        stack.stop()
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for name in ("baseline", "steady", "burst"):
        row = out.get(name, {})
        print(f"{name:>8}: {row}")
    print(f"p99 ratio vs baseline: steady {out.get('p99_ratio_steady')}, burst {out.get('p99_ratio_burst')}")
    print(f"bridge decision p99 <= {out.get('bridge_decision_p99_ms_at_most')} ms (target 5 ms)")
    print(f"router wait p99 <= {out.get('router_wait_p99_ms_at_most')} ms")


if __name__ == "__main__":
    main()
