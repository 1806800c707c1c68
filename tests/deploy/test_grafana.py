"""The Grafana dashboards: generated from deploy/grafana/generate.py and fresh, every panel's query
parses as PromQL and names only metrics the code exports, and the dashboards show what operators
asked for (service level, time to a human, lag, dead letters, timers, booking conflicts, skips)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "deploy" / "grafana" / "generate.py"
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
SERVICES = ("call-router", "scheduler", "followup", "reviews")
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$clinic": ".*"}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def queries() -> Iterator[tuple[str, str, str]]:
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield name, panel["title"], target["expr"]


def as_sent(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace("$__", ""), f"unknown variable in {expr}"
    return expr


def test_committed_dashboards_are_fresh(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0, "dashboards are stale: run `make grafana` and commit the result"


def test_one_dashboard_per_service_and_an_overview() -> None:
    boards = dashboards()
    assert set(boards) == {"overview", *SERVICES}
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for board in boards.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and all(p["targets"] for p in board["panels"])
        assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "clinic"}


def test_every_query_parses_and_names_only_exported_metrics(
    exported_metrics: set[str], promql_metrics: Callable[[str], set[str]]
) -> None:
    count = 0
    for board, title, expr in queries():
        used = promql_metrics(as_sent(expr))
        assert used, (board, title)
        assert used <= exported_metrics, f"{board} / {title}: no code exports {sorted(used - exported_metrics)}"
        count += 1
    assert count >= 40


def test_the_check_can_fail(exported_metrics: set[str], promql_metrics: Callable[[str], set[str]]) -> None:
    with pytest.raises(ValueError):
        promql_metrics(as_sent("sum(rate(frontdesk_calls_received_total[$__rate_interval])"))
    assert not promql_metrics(as_sent("rate(frontdesk_nothing_total[$__rate_interval])")) <= exported_metrics


def test_the_overview_shows_what_operators_asked_for() -> None:
    overview = " ".join(expr for board, _, expr in queries() if board == "overview")
    for metric in (
        "frontdesk_calls_answered_total",  # service level
        "frontdesk_call_time_to_human_seconds_bucket",
        "frontdesk_consumer_lag",
        "frontdesk_dlq_published_total",
        "frontdesk_timer_lateness_seconds_bucket",
        'frontdesk_scheduler_refusals_total{reason="slot_taken"}',  # booking conflicts
        "frontdesk_followup_skips_total",
    ):
        assert metric in overview, metric


def test_service_dashboards_filter_their_own_service() -> None:
    for service in SERVICES:
        plumbing = [e for b, _, e in queries() if b == service and "frontdesk_consumer_lag" in e]
        assert plumbing and all(f'service="{service}"' in e for e in plumbing), service
