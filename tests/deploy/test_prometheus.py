"""The shipped Prometheus alert rules: valid rule files, PromQL that parses, only metrics the code
exports, a runbook section in docs/operations.md for every alert, and promtool's unit tests of
when each alert fires (deploy/prometheus/alerts.test.yaml)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts.test.yaml"
OPERATIONS = REPO / "docs" / "operations.md"
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


def load_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    assert set(data) == {"groups"}
    rules = []
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"]
        rules.extend(group["rules"])
    return rules


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


def test_every_expression_parses_and_names_only_exported_metrics(
    exported_metrics: set[str], promql_metrics: Callable[[str], set[str]]
) -> None:
    exported = exported_metrics
    for rule in load_rules():
        used = promql_metrics(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, f"{rule['alert']}: no code exports {sorted(used - exported)}"


def test_the_parser_and_the_metric_check_can_fail(
    exported_metrics: set[str], promql_metrics: Callable[[str], set[str]]
) -> None:
    with pytest.raises(ValueError):
        promql_metrics("sum by (service (frontdesk_consumer_lag)")
    used = promql_metrics("rate(frontdesk_no_such_metric_total[5m]) > 0")
    assert used == {"frontdesk_no_such_metric_total"} and not used <= exported_metrics


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


def promtool() -> str:
    """promtool's path; missing, the alert unit tests fail rather than pass unseen (as kustomize does)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `apt-get install prometheus` (Debian; .ci/run installs it)")
    return path


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_promtool_test_that_fires_it() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    fired = {
        case["alertname"] for group in tests["tests"] for case in group["alert_rule_test"] if case.get("exp_alerts")
    }
    missing = {r["alert"] for r in load_rules()} - fired
    assert not missing, f"alerts no promtool test fires: {sorted(missing)}"
