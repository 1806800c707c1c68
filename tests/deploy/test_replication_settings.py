"""Production's replication settings have one source (frontdesk.common.contracts.registry) and every
place that runs Kafka agrees with it: the rendered prod overlay (the Strimzi Kafka, its node pool and
every KafkaTopic) and the local three-broker cluster that the cluster fault tests run on.
tests/faults/test_cluster.py checks the running cluster's topics and brokers against the same source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frontdesk.common.contracts.registry import (
    CLUSTER_BROKER_CONFIG,
    MIN_INSYNC_REPLICAS,
    REPLICATION_FACTOR,
    all_topics,
)
from frontdesk.tools.cluster import KafkaCluster, free_ports

Docs = list[dict[str, Any]]


def _one(docs: Docs, kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def _yaml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_production_replicates_as_the_source_says() -> None:
    assert REPLICATION_FACTOR == 3
    assert MIN_INSYNC_REPLICAS == 2  # one broker may be lost without refusing or losing a write
    assert CLUSTER_BROKER_CONFIG["unclean.leader.election.enable"] == "false"


def test_strimzi_prod_cluster_carries_the_source_settings(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    config = _one(docs, "Kafka")["spec"]["kafka"]["config"]
    assert {k: _yaml_value(v) for k, v in config.items()} == CLUSTER_BROKER_CONFIG
    assert _one(docs, "KafkaNodePool")["spec"]["replicas"] == REPLICATION_FACTOR


def test_strimzi_prod_topics_carry_the_source_settings(rendered: dict[str, Docs]) -> None:
    topics = {d["spec"]["topicName"]: d["spec"] for d in rendered["prod"] if d["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in all_topics()}
    for spec in all_topics():
        assert topics[spec.name]["replicas"] == REPLICATION_FACTOR, spec.name
        assert topics[spec.name]["partitions"] == spec.partitions, spec.name
        assert topics[spec.name]["config"] == spec.replicated_config(), spec.name
        assert spec.replicated_config()["min.insync.replicas"] == str(MIN_INSYNC_REPLICAS)


def test_local_cluster_nodes_run_with_the_source_settings(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path, free_ports())
    assert len(cluster.nodes) == REPLICATION_FACTOR
    voters = {f"{i}@127.0.0.1:{node.controller_port}" for i, node in enumerate(cluster.nodes, 1)}
    for i, node in enumerate(cluster.nodes, 1):
        lines = node.write_config().read_text().splitlines()
        properties = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
        assert {k: properties[k] for k in CLUSTER_BROKER_CONFIG} == CLUSTER_BROKER_CONFIG
        assert properties["node.id"] == str(i)
        assert set(properties["controller.quorum.voters"].split(",")) == voters
        assert sum(1 for line in lines if line.startswith("min.insync.replicas=")) == 1  # replaced, not repeated
