"""The shipped Prometheus alert rules: valid rule files, PromQL that parses, only metrics the code
exports, and a runbook section in docs/operations.md for every alert."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yaml"
OPERATIONS = REPO / "docs" / "operations.md"
SERVICES = ("call-router", "scheduler", "followup", "reviews")
PROMETHEUS_OWN = {"up"}  # series Prometheus itself writes per scrape target
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


def load_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    assert set(data) == {"groups"}
    rules = []
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"]
        rules.extend(group["rules"])
    return rules


def exported_metrics() -> set[str]:
    """Every series name the services' code registers, once all of their modules are imported."""
    for service in SERVICES:
        importlib.import_module(f"frontdesk.{service.replace('-', '_')}.entrypoints.main")
    importlib.import_module("frontdesk.common.metrics")
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(node: Any) -> Iterator[str]:
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from metric_names(child)
    for arg in getattr(node, "args", None) or ():
        yield from metric_names(arg)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_rules_are_well_formed() -> None:
    rules = load_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= RULE_KEYS, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_every_expression_parses_and_names_only_exported_metrics() -> None:
    exported = exported_metrics() | PROMETHEUS_OWN
    for rule in load_rules():
        expr = promql_parser.parse(rule["expr"])
        used = set(metric_names(expr))
        assert used, rule["alert"]
        assert used <= exported, f"{rule['alert']}: no code exports {sorted(used - exported)}"


def test_the_parser_and_the_metric_check_can_fail() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (service (frontdesk_consumer_lag)")
    used = set(metric_names(promql_parser.parse("rate(frontdesk_no_such_metric_total[5m]) > 0")))
    assert used == {"frontdesk_no_such_metric_total"} and not used <= exported_metrics()


def test_the_issue_s_alerts_are_shipped() -> None:
    exprs = {r["alert"]: r["expr"] for r in load_rules()}
    joined = " ".join(exprs.values())
    for metric in (
        "frontdesk_consumer_lag",
        "frontdesk_dlq_published_total",
        "frontdesk_calls_answered_total",
        "frontdesk_vendor_failovers_total",
        "frontdesk_calls_unknown_clinic_total",
    ):
        assert metric in joined, metric


def test_every_alert_has_a_runbook_section() -> None:
    known = anchors(OPERATIONS.read_text())
    for rule in load_rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md" and anchor in known, (rule["alert"], url)
        assert rule["alert"] in OPERATIONS.read_text(), f"{rule['alert']} is not explained in docs/operations.md"
