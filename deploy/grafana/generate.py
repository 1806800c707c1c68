"""Generate the Grafana dashboards: one per service and a network overview, from the one definition below.

Each panel is a title, a unit and its PromQL queries; every query names only series the services
export (tests/deploy/test_grafana.py parses each one and checks its metrics against the code's
registrations). Queries use Grafana's `$__rate_interval` and two variables, `datasource` (any
Prometheus) and `clinic` (a regular expression over clinic ids, "All" = every clinic).

Run `make grafana` (or `python deploy/grafana/generate.py`) after changing a panel and commit the
result; `--check` exits 1 when a committed dashboard is stale (the test runs the same check).
Import the files in Grafana (Dashboards > Import) or provision them from deploy/grafana/dashboards/.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
CLINIC = 'clinic_id=~"$clinic"'
R = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat" for one number


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


# --- the panels -------------------------------------------------------------------------------------

# Service level: answered by a live human within the ring budget / (offered - short abandons).
SERVICE_LEVEL = Panel(
    "Service level (answered within the ring budget)",
    "Calls answered within the ring budget over calls received less short abandons (<= 5 s), per"
    " clinic, over the last hour. The target is 90% (alert FrontdeskServiceLevelBelowTarget).",
    (
        q(
            f"""sum by (clinic_id) (increase(frontdesk_calls_answered_total{{{CLINIC},within_budget="true"}}[1h]))
            / clamp_min(
                sum by (clinic_id) (increase(frontdesk_calls_received_total{{{CLINIC}}}[1h]))
                - (sum by (clinic_id) (increase(frontdesk_calls_abandoned_total{{{CLINIC},short="true"}}[1h]))
                   or 0 * sum by (clinic_id) (increase(frontdesk_calls_received_total{{{CLINIC}}}[1h]))),
            1)""",
            "{{clinic_id}}",
        ),
    ),
    unit="percentunit",
)
TIME_TO_HUMAN = Panel(
    "Time to a human",
    "From a call's arrival to its first answer by a live human, network-wide quantiles.",
    tuple(
        q(
            f"histogram_quantile({p}, sum by (le)"
            f" (rate(frontdesk_call_time_to_human_seconds_bucket{{{CLINIC}}}[{R}])))",
            f"p{round(p * 100)}",
        )
        for p in (0.5, 0.9, 0.99)
    ),
    unit="s",
)
CALLS = Panel(
    "Calls",
    "Calls received, answered (within the ring budget or not) and abandoned, per second.",
    (
        q(f"sum(rate(frontdesk_calls_received_total{{{CLINIC}}}[{R}]))", "received"),
        q(
            f"sum by (within_budget) (rate(frontdesk_calls_answered_total{{{CLINIC}}}[{R}]))",
            "answered, within budget={{within_budget}}",
        ),
        q(f"sum by (short) (rate(frontdesk_calls_abandoned_total{{{CLINIC}}}[{R}]))", "abandoned, short={{short}}"),
    ),
    unit="reqps",
)
OVERFLOWS = Panel(
    "Hand-overs to answering services",
    "Calls handed to a vendor, by vendor and reason; failovers are calls moved off a vendor that missed its target.",
    (
        q(
            f"sum by (vendor_id, reason) (rate(frontdesk_calls_overflowed_total{{{CLINIC}}}[{R}]))",
            "{{vendor_id}} {{reason}}",
        ),
        q(f"sum by (vendor_id) (rate(frontdesk_vendor_failovers_total[{R}]))", "failover off {{vendor_id}}"),
    ),
    unit="reqps",
)
DECISION_LAG = Panel(
    "Routing decision lag (p99)",
    "From call.received's received_at to the routing decision.",
    (q(f"histogram_quantile(0.99, sum by (le) (rate(frontdesk_call_received_to_routed_seconds_bucket[{R}])))", "p99"),),
    unit="s",
)
OLDEST_WAITING = Panel(
    "Longest current wait",
    "Seconds the oldest unanswered call has been waiting, per clinic (0: none waiting).",
    (
        q(
            f"""(time() - max by (clinic_id) (frontdesk_call_oldest_waiting_received_timestamp_seconds{{{CLINIC}}}))
            and max by (clinic_id) (frontdesk_call_oldest_waiting_received_timestamp_seconds{{{CLINIC}}}) > 0""",
            "{{clinic_id}}",
        ),
    ),
    unit="s",
)
UNKNOWN_CLINIC = Panel(
    "Calls for an unknown clinic",
    "Calls for a clinic the router has no configuration for: network fallback, or unrouted.",
    (q(f"sum by (outcome) (increase(frontdesk_calls_unknown_clinic_total[{R}]))", "{{outcome}}"),),
)
BOOKING_CONFLICTS = Panel(
    "Booking conflicts",
    "Bookings and moves refused because the slot was taken (409 slot_taken), per second.",
    (q(f'sum(rate(frontdesk_scheduler_refusals_total{{reason="slot_taken"}}[{R}]))', "slot taken"),),
    unit="reqps",
)
REFUSALS = Panel(
    "Refused scheduling commands by reason",
    "Booking, move and waitlist commands refused, by reason.",
    (q(f"sum by (reason) (rate(frontdesk_scheduler_refusals_total[{R}]))", "{{reason}}"),),
    unit="reqps",
)
MESSAGE_SKIPS = Panel(
    "Message skips by reason",
    "Patient messages not sent (followup) and review requests skipped (reviews), by reason.",
    (
        q(f"sum by (reason) (increase(frontdesk_followup_skips_total[{R}]))", "message: {{reason}}"),
        q(
            f'sum by (reason) (increase(frontdesk_reviews_requests_total{{{CLINIC},outcome="skipped"}}[{R}]))',
            "review request: {{reason}}",
        ),
    ),
)
MESSAGES = Panel(
    "Message decisions",
    "Sent, skipped, failed, deferred (quiet hours), retried, cancelled.",
    (q(f"sum by (outcome) (increase(frontdesk_followup_messages_total[{R}]))", "{{outcome}}"),),
)
REPLIES = Panel(
    "Inbound replies by meaning",
    "Patients' replies (confirm, cancel, stop, ...).",
    (q(f"sum by (meaning) (increase(frontdesk_followup_replies_total[{R}]))", "{{meaning}}"),),
)
REVIEW_REQUESTS = Panel(
    "Review requests",
    "Review requests scheduled, delivered (requested) and skipped.",
    (q(f"sum by (outcome) (increase(frontdesk_reviews_requests_total{{{CLINIC}}}[{R}]))", "{{outcome}}"),),
)
REVIEW_SCORES = Panel(
    "Average private rating",
    "Average of the private ratings received, by scale (stars 1-5, NPS 0-10).",
    (
        q(
            f"""sum by (scale) (rate(frontdesk_reviews_score_sum{{{CLINIC}}}[1h]))
            / sum by (scale) (rate(frontdesk_reviews_score_count{{{CLINIC}}}[1h]))""",
            "{{scale}}",
        ),
    ),
)
ESCALATIONS = Panel(
    "Service-recovery escalations",
    "Escalations of unhappy patients by level.",
    (q(f"sum by (level) (increase(frontdesk_reviews_escalations_total{{{CLINIC}}}[{R}]))", "{{level}}"),),
)


def consumer_lag(service: str | None) -> Panel:
    by = "topic" if service else "service"
    return Panel(
        "Consumer lag",
        "Records not yet consumed (alert FrontdeskConsumerLagHigh above 1000 for 10 minutes).",
        (q(f"sum by ({by}) (frontdesk_consumer_lag{_service(service)})", f"{{{{{by}}}}}"),),
    )


def dead_letters(service: str | None) -> Panel:
    by, legend = ("topic", "{{topic}}") if service else ("service, topic", "{{service}} {{topic}}")
    return Panel(
        "Dead-lettered records",
        "Records sent to a dead-letter topic: each is an event the service did not act on.",
        (q(f"sum by ({by}) (increase(frontdesk_dlq_published_total{_service(service)}[{R}]))", legend),),
    )


def timers_late(service: str | None) -> Panel:
    by = "kind" if service else "service"
    return Panel(
        "Timers late (p99)",
        "How long after its due time a durable timer fired (alert FrontdeskTimersLate above 2.5 s).",
        (
            q(
                f"histogram_quantile(0.99, sum by ({by}, le)"
                f" (rate(frontdesk_timer_lateness_seconds_bucket{_service(service)}[{R}])))",
                f"{{{{{by}}}}}",
            ),
        ),
        unit="s",
    )


def outbox_backlog(service: str | None) -> Panel:
    return Panel(
        "Outbox backlog",
        "Committed events waiting to reach Kafka.",
        (q(f"max by (service) (frontdesk_outbox_backlog{_service(service)})", "{{service}}"),),
    )


def handler_seconds(service: str) -> Panel:
    return Panel(
        "Handler time (p99)",
        "From starting a record to the commit of its transaction, per topic.",
        (
            q(
                f"histogram_quantile(0.99, sum by (topic, le)"
                f" (rate(frontdesk_handler_seconds_bucket{_service(service)}[{R}])))",
                "{{topic}}",
            ),
        ),
        unit="s",
    )


def _service(service: str | None) -> str:
    return f'{{service="{service}"}}' if service else ""


def plumbing(service: str) -> tuple[Panel, ...]:
    return (
        consumer_lag(service),
        dead_letters(service),
        timers_late(service),
        outbox_backlog(service),
        handler_seconds(service),
    )


DASHBOARDS = (
    Dashboard(
        "overview",
        "Frontdesk: network overview",
        "Every promise at a glance: calls reach a human in time, events flow, timers fire on time.",
        (
            SERVICE_LEVEL,
            TIME_TO_HUMAN,
            consumer_lag(None),
            dead_letters(None),
            timers_late(None),
            BOOKING_CONFLICTS,
            MESSAGE_SKIPS,
            outbox_backlog(None),
        ),
    ),
    Dashboard(
        "call-router",
        "Frontdesk: call-router",
        "Every call to a live human inside the ring budget.",
        (
            SERVICE_LEVEL,
            TIME_TO_HUMAN,
            CALLS,
            OVERFLOWS,
            DECISION_LAG,
            OLDEST_WAITING,
            UNKNOWN_CLINIC,
            *plumbing("call-router"),
        ),
    ),
    Dashboard(
        "scheduler",
        "Frontdesk: scheduler",
        "Bookings without double-booking.",
        (BOOKING_CONFLICTS, REFUSALS, *plumbing("scheduler")),
    ),
    Dashboard(
        "followup",
        "Frontdesk: followup",
        "Reminders, recalls and replies.",
        (MESSAGES, MESSAGE_SKIPS, REPLIES, *plumbing("followup")),
    ),
    Dashboard(
        "reviews",
        "Frontdesk: reviews",
        "Review requests, private ratings and service recovery.",
        (REVIEW_REQUESTS, MESSAGE_SKIPS, REVIEW_SCORES, ESCALATIONS, *plumbing("reviews")),
    ),
)


# --- rendering --------------------------------------------------------------------------------------


def render_panel(panel: Panel, panel_id: int) -> dict[str, Any]:
    width, height = (12, 8)
    x = 0 if panel_id % 2 else 12
    y = (panel_id - 1) // 2 * height
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend}
            for i, query in enumerate(panel.queries)
        ],
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "uid": f"frontdesk-{dashboard.slug}",
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["frontdesk"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
                {
                    "name": "clinic",
                    "label": "Clinic",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": "label_values(frontdesk_calls_received_total, clinic_id)",
                    "includeAll": True,
                    "allValue": ".*",
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": [render_panel(panel, i) for i, panel in enumerate(dashboard.panels, start=1)],
    }


def files() -> dict[Path, str]:
    return {OUT / f"{d.slug}.json": json.dumps(render(d), indent=2) + "\n" for d in DASHBOARDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed dashboard is stale")
    args = parser.parse_args(argv)
    wanted = files()
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    extra = [p for p in OUT.glob("*.json") if p not in wanted] if OUT.exists() else []
    if args.check:
        for path in [*stale, *extra]:
            print(f"stale: {path.relative_to(HERE.parent.parent)}", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(exist_ok=True)
    for path in stale:
        path.write_text(wanted[path])
    for path in extra:
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
