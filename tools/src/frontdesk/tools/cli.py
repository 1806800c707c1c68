"""The `frontdesk` command.

frontdesk apply -f FILE [--dry-run]     validate clinics, show the diff against live, publish
frontdesk stack up|down|status|run      the local stack (Kafka, PostgreSQL, four services)
frontdesk stack up --brokers 3          ... on a three-broker Kafka cluster replicated as production
frontdesk demo                          feed demo traffic to a running stack and show the outcome
frontdesk simulate [--clinics N ...]    play a compressed clinic-network day against a running stack
frontdesk token [--clinic ID ...]       print a bearer token for the HTTP APIs
frontdesk audit verify [SERVICE ...]    check each service's audit trail hash chain
frontdesk audit deps                    pip-audit the dependency locks (live OSV, else the shipped snapshot)
frontdesk kafka-env PRINCIPAL           exports that make a client PRINCIPAL on the secure local broker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from .stack import SERVICES, LocalStack, repo_root

DEMO_NETWORK = repo_root() / "deploy" / "local" / "demo-network.yaml"


def _stack(args: argparse.Namespace) -> LocalStack:
    return LocalStack(Path(args.state_dir), brokers=getattr(args, "brokers", None))


def _bootstrap(args: argparse.Namespace) -> str:
    return str(args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _stack(args).bootstrap)


def cmd_apply(args: argparse.Namespace) -> int:
    from .apply import InvalidClinicFile, apply_file, describe

    try:
        changes = asyncio.run(apply_file(Path(args.file), _bootstrap(args), dry_run=args.dry_run))
    except InvalidClinicFile as exc:
        print(f"Nothing published; the file has problems:\n{exc}", file=sys.stderr)
        return 2
    print(describe(changes, args.dry_run))
    return 0


def cmd_kafka_env(args: argparse.Namespace) -> int:
    """Shell exports that make a client `principal` on the secure local broker (docs/vendors.md)."""
    from .access import principals

    if args.principal not in principals():
        known = ", ".join(principals())
        print(f"unknown principal {args.principal!r}; deploy/access.yaml names: {known}", file=sys.stderr)
        return 2
    stack = LocalStack(Path(args.state_dir), secure=True)
    if not stack.kafka.credentials.path.exists():
        print("no credentials yet: start the secure stack first (FRONTDESK_KAFKA_SECURE=1 make up)", file=sys.stderr)
        return 2
    env = {"KAFKA_BOOTSTRAP_SERVERS": _bootstrap(args), **stack.kafka.credentials.env(args.principal)}
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _print_status(stack: LocalStack) -> None:
    for part, state in stack.status().items():
        print(f"  {part:<12} {state}")


def cmd_up(args: argparse.Namespace) -> int:
    from .cluster import PortsInUse

    stack = _stack(args)
    print("Starting Kafka and PostgreSQL...", flush=True)
    try:
        stack.start_infrastructure()
    except PortsInUse as exc:
        print(exc, file=sys.stderr)
        return 2
    print("Starting the services...", flush=True)
    stack.start_services()
    if stack.configure_network():
        print("Configured the network fallback for unknown clinics (deploy/local/demo-network.yaml).")
    _print_status(stack)
    print(f"Logs: {stack.state_dir / 'logs'}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _stack(args).stop()
    print("Stopped.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print_status(_stack(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    stack = _stack(args)
    urls = {name: stack.service(name).url for name in SERVICES}
    token = stack.api_token(subject="frontdesk-demo")
    return asyncio.run(run_demo(_bootstrap(args), Path(args.network), urls, token))


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimConfig, simulate

    stack = _stack(args)
    urls = {name: stack.service(name).url for name in SERVICES}
    config = SimConfig(
        seed=args.seed,
        clinics=args.clinics,
        calls_per_day=args.calls_per_day,
        visits_per_day=args.visits_per_day,
        speed=args.speed,
        vendor_slow_share=args.vendor_slow_share,
        silent_window=args.silent_window,
    )
    token = stack.api_token(subject="frontdesk-simulator")
    result = asyncio.run(simulate(_bootstrap(args), urls, config, token=token, progress=not args.no_progress))
    print(result.format())
    # A broken promise, or a call over its ring budget for a reason the router controls, fails the run.
    return 0 if result.ok and not result.budget_breaches else 1


def _window(text: str) -> tuple[float, float] | None:
    from .simulate import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_token(args: argparse.Namespace) -> int:
    """A bearer token signed with the local stack's key, or with --signing-key (PEM, Ed25519)."""
    from frontdesk.common.auth import issue_token

    scopes = ("read",) if args.read_only else ("read", "write")
    clinics = args.clinic or None
    if args.signing_key:
        token = issue_token(Path(args.signing_key).read_text(), args.subject, clinics, scopes, args.ttl_minutes * 60)
    else:
        token = _stack(args).api_token(clinics, scopes, args.subject, args.ttl_minutes * 60)
    print(token)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 1 and name the first broken row when any chain is broken (docs/operations.md)."""
    import asyncpg

    from frontdesk.common.audit_chain import Anchor, ChainReport, verify
    from frontdesk.common.settings import ServiceSettings

    anchors = [Anchor.parse(a) for a in args.anchor or ()]

    async def check(url: str) -> list[ChainReport]:
        conn = await asyncpg.connect(url)
        try:
            return await verify(conn, anchors)
        finally:
            await conn.close()

    intact = True
    for service in args.service or SERVICES:
        reports = asyncio.run(check(args.database_url or ServiceSettings.for_service(service).database_url))
        intact = intact and all(r.intact for r in reports)
        shown = [r.describe() for r in reports if r.rows or not r.intact]  # not the chains still empty
        for line in shown or ["no audit rows yet"]:
            print(f"{service}: {line}")
    return 0 if intact else 1


def cmd_audit_deps(args: argparse.Namespace) -> int:
    from . import depaudit

    locks = [repo_root() / name for name in depaudit.LOCKS]
    if args.refresh_from:
        written = depaudit.refresh(Path(args.refresh_from), locks)
        print(f"{written} advisories written to {depaudit.ADVISORIES}; set the snapshot date in its README.md")
        return 0
    return depaudit.audit(locks, args.osv_url)


def cmd_run(args: argparse.Namespace) -> int:
    """Everything in the foreground: start, demo, then keep serving until Ctrl-C."""
    stack = _stack(args)
    stopping = False
    rig = None

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    try:
        cmd_up(args)
        print()
        cmd_demo(args)
        if args.sip:  # Kamailio + SIPp phones: a real SIP call rings a receptionist (deploy/sip/README.md)
            from . import sip_demo

            rig = sip_demo.start(stack)
        print("\nHTTP APIs (public port; OpenAPI docs, probes and metrics on the operations port):")
        for name in SERVICES:
            service = stack.service(name)
            print(f"  {name:<12} {service.url}   docs: {service.ops_url}/docs")
        console = stack.service("console").url
        print(f"\nStaff console: {console}/sign-in  (paste a token from `.venv/bin/frontdesk token`)")
        print(f"HL7 v2 over MLLP (the scheduler): 127.0.0.1:{stack.scheduler_mllp_port}, or POST /v1/hl7/<clinic_id>")
        print("\nThe stack keeps running. Ctrl-C stops everything.", flush=True)
        # Handle both explicitly: a shell may start us with SIGINT ignored (a background job).
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping...", flush=True)
        if rig is not None:
            rig.stop()
        stack.stop()
        print("Stopped.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="frontdesk", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir",
        default=str(repo_root() / ".local" / "dev"),
        help="where the local stack keeps data, logs and pid files",
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS or local)")
    sub = parser.add_subparsers(dest="command", required=True)

    apply = sub.add_parser("apply", help="validate and publish a YAML file of clinics")
    apply.add_argument("-f", "--file", required=True)
    apply.add_argument("--dry-run", action="store_true", help="show the diff, publish nothing")
    apply.set_defaults(func=cmd_apply)

    stack = sub.add_parser("stack", help="the local stack")
    stack_sub = stack.add_subparsers(dest="action", required=True)
    for action, func in (("up", cmd_up), ("down", cmd_down), ("status", cmd_status), ("run", cmd_run)):
        action_parser = stack_sub.add_parser(action)
        action_parser.set_defaults(func=func, sip=False)
        if action == "run":
            action_parser.add_argument(
                "--sip", action="store_true", help="also start the SIP rig (Kamailio + SIPp phones) and ring a desk"
            )
        if action in ("up", "run"):
            action_parser.add_argument(
                "--brokers",
                type=int,
                choices=(1, 3),
                help="1: one broker; 3: a cluster replicated as production (default: what the state folder ran)",
            )

    demo = sub.add_parser("demo", help="feed demo traffic to a running stack")
    demo.add_argument("--network", default=str(DEMO_NETWORK))
    demo.set_defaults(func=cmd_demo)
    sim = sub.add_parser("simulate", help="play a compressed clinic-network day against a running stack")
    sim.add_argument("--seed", type=int, default=7, help="the same seed plays the same day")
    sim.add_argument("--clinics", type=int, default=4)
    sim.add_argument("--calls-per-day", type=int, default=60, help="per clinic")
    sim.add_argument("--visits-per-day", type=int, default=8, help="per clinic")
    sim.add_argument("--speed", type=float, default=1440.0, help="simulated seconds per real second (1440: a day/min)")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar")
    sim.add_argument(
        "--silent-window",
        type=_window,
        default=(0.4, 0.6),
        metavar="FROM-TO",
        help="fractions of the simulated day the primary vendor answers nothing (default 0.4-0.6; none: never)",
    )
    sim.add_argument(
        "--vendor-slow-share",
        type=float,
        default=0.05,
        help="share of vendor answers that come after the vendor's answer target (default 0.05)",
    )
    sim.set_defaults(func=cmd_simulate)
    kafka_env = sub.add_parser("kafka-env", help="print the exports that make a client PRINCIPAL on the secure stack")
    kafka_env.add_argument("principal", help="e.g. vendor-nightowl-answering (deploy/access.yaml)")
    kafka_env.set_defaults(func=cmd_kafka_env)
    token = sub.add_parser("token", help="print a bearer token for the HTTP APIs")
    token.add_argument("--subject", default=os.environ.get("USER", "staff"), help="who the token is for (audited)")
    token.add_argument("--clinic", action="append", help="a clinic the token may touch (repeat); default: every clinic")
    token.add_argument("--read-only", action="store_true", help="GET only")
    token.add_argument("--ttl-minutes", type=int, default=480)
    token.add_argument("--signing-key", help="an Ed25519 private key (PEM); default: the local stack's key")
    token.set_defaults(func=cmd_token)
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="recompute every service's audit hash chain; exit 1 naming the first broken row",
        description="Reads each service's database at <SERVICE>_DATABASE_URL (else DATABASE_URL, else the "
        "local stack) or --database-url. Keep the heads it prints elsewhere and pass them back as --anchor.",
    )
    verify.add_argument("service", nargs="*", help=f"default: all of {', '.join(SERVICES)}")
    verify.add_argument("--database-url", help="the database to check (with one service)")
    verify.add_argument("--anchor", action="append", help="chain:seq:hash from an earlier run (repeat)")
    verify.set_defaults(func=cmd_audit_verify)
    deps = audit_sub.add_parser(
        "deps",
        help="pip-audit the hashed dependency locks; exit 1 on a known-vulnerable pin",
        description="Asks the live OSV database, else the advisories shipped in security/advisories "
        "(and says so). docs/operations.md, 'Dependencies'.",
    )
    deps.add_argument("--osv-url", default="https://api.osv.dev/v1/query", help="the live OSV query endpoint")
    deps.add_argument("--refresh-from", help="a folder of OSV records (e.g. the PyPA advisory database) to copy")
    deps.set_defaults(func=cmd_audit_deps)
    run = stack_sub.choices["run"]
    run.set_defaults(network=str(DEMO_NETWORK))

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
