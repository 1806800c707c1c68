"""The Kubernetes manifests: rendered offline with kustomize, validated against the Kubernetes schemas
(kubernetes-validate) and the vendored Strimzi/KEDA CRD schemas, and checked for the invariants that
keep the deployment consistent with the code."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from frontdesk.common.contracts.registry import all_topics

from .conftest import KUBE_VERSIONS, OVERLAYS, VARIANTS

# Compacted configuration topics (clinic.configured, network.configured) never drive scaling.
CONFIG_TOPICS = {t.name for t in all_topics() if t.compacted}

ALL_RENDERINGS = (*OVERLAYS, *VARIANTS)
CUSTOM_GROUPS = ("kafka.strimzi.io/", "keda.sh/")
SERVICES = ("call-router", "scheduler", "followup", "reviews", "console", "phone-bridge")
# A call's SIP state lives in one bridge process's memory: one replica, never autoscaled.
SINGLE_REPLICA = {"phone-bridge"}
Docs = list[dict[str, Any]]


def by_kind(docs: Docs, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def is_custom(doc: dict[str, Any]) -> bool:
    return str(doc["apiVersion"]).startswith(CUSTOM_GROUPS)


def app_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "app")


# --- generated files ------------------------------------------------------------------------------


def test_generated_manifests_are_current(generator: ModuleType) -> None:
    stale = generator.stale_files()
    assert not stale, f"generated files are stale, run `make k8s`: {[str(p) for p in stale]}"


def test_generator_detects_a_stale_file(generator: ModuleType, tmp_path: Any) -> None:
    for path, text in generator.render_all().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert generator.stale_files(tmp_path) == []
    topics = next(p for p in generator.render_all() if p.name == "topics.yaml")
    (tmp_path / topics).write_text((tmp_path / topics).read_text().replace("partitions: 6", "partitions: 7", 1))
    assert generator.stale_files(tmp_path) == [topics]


# --- schema validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_RENDERINGS)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_core_resources_match_kubernetes_schemas(rendered: dict[str, Docs], name: str, kube_version: str) -> None:
    errors = []
    core = [d for d in rendered[name] if not is_custom(d)]
    assert core
    for doc in core:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_custom_resources_match_crd_schemas(
    rendered: dict[str, Docs], crd_check: Callable[[dict[str, Any]], list[str]], name: str
) -> None:
    custom = [d for d in rendered[name] if is_custom(d)]
    assert custom
    errors = [f"{d['kind']}/{d['metadata']['name']}: {e}" for d in custom for e in crd_check(d)]
    assert not errors, "\n".join(errors[:30])


def test_every_rendered_kind_is_validated_somewhere(rendered: dict[str, Docs]) -> None:
    kinds = {(d["apiVersion"], d["kind"]) for docs in rendered.values() for d in docs}
    assert ("kafka.strimzi.io/v1", "KafkaTopic") in kinds
    assert ("keda.sh/v1alpha1", "ScaledObject") in kinds
    assert ("autoscaling/v2", "HorizontalPodAutoscaler") in kinds
    assert ("networking.k8s.io/v1", "NetworkPolicy") in kinds
    # Strimzi 1.x accepts only kafka.strimzi.io/v1
    assert not [k for k in kinds if k[0].startswith("kafka.strimzi.io/") and k[0] != "kafka.strimzi.io/v1"]


def test_crd_validation_rejects_what_the_api_server_would(
    rendered: dict[str, Docs], crd_check: Callable[[dict[str, Any]], list[str]]
) -> None:
    docs = rendered["prod"]
    topic = dict(next(iter(by_kind(docs, "KafkaTopic").values())))
    assert crd_check(topic) == []
    assert crd_check({**topic, "spec": {**topic["spec"], "partitions": "six"}})
    assert crd_check({**topic, "spec": {**topic["spec"], "partition": 6}})  # unknown field
    user = next(iter(by_kind(docs, "KafkaUser").values()))
    bad_acl = {**user["spec"]["authorization"]["acls"][0], "operations": ["Eat"]}
    bad_user = {**user, "spec": {**user["spec"], "authorization": {"type": "simple", "acls": [bad_acl]}}}
    assert crd_check(bad_user)
    scaled = next(iter(by_kind(docs, "ScaledObject").values()))
    assert crd_check({**scaled, "spec": {k: v for k, v in scaled["spec"].items() if k != "scaleTargetRef"}})
    assert crd_check({**scaled, "apiVersion": "keda.sh/v2"})


def test_kubernetes_validation_rejects_a_bad_deployment(rendered: dict[str, Docs]) -> None:
    deployment = by_kind(rendered["prod"], "Deployment")["scheduler"]
    kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)
    for bad_spec in ({**deployment["spec"], "replicas": "two"}, {**deployment["spec"], "replica": 2}):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate({**deployment, "spec": bad_spec}, KUBE_VERSIONS[0], strict=True)


# --- workloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_each_service_has_its_full_set_of_resources(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    extra = {"Service": {"scheduler-mllp"}} if name.endswith("+hl7-mllp") else {}
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert set(by_kind(docs, kind)) == set(SERVICES) | extra.get(kind, set()), kind
    assert set(by_kind(docs, "ConfigMap")) == {f"{s}-config" for s in SERVICES}
    for pdb in by_kind(docs, "PodDisruptionBudget").values():
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_deployments_are_probed_secured_sized_and_shut_down_gracefully(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    configs = by_kind(docs, "ConfigMap")
    for service, deployment in by_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        app = app_container(deployment)
        config = configs[f"{service}-config"]["data"]
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
        pre_stop = app["lifecycle"]["preStop"]["sleep"]["seconds"]
        shutdown = float(config["FRONTDESK_SHUTDOWN_TIMEOUT_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] > pre_stop + shutdown, service
        assert config["FRONTDESK_HTTP_HOST"] == "0.0.0.0"
        http = next(p for p in app["ports"] if p["name"] == "http")
        assert http["containerPort"] == int(config["FRONTDESK_HTTP_PORT"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == service
        for container in [*pod["initContainers"], *pod["containers"]]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            for key in ("cpu", "memory"):
                assert container["resources"]["requests"][key]
                assert container["resources"]["limits"][key]
        env = {e["name"]: e for e in app["env"]}
        database_env = service.replace("-", "_").upper() + "_DATABASE_URL"
        assert env[database_env]["valueFrom"]["secretKeyRef"] == {"name": f"{service}-db", "key": "uri"}
        assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"frontdesk-{service}"
        migrate = pod["initContainers"][0]
        assert migrate["command"] == ["python", "-m", "frontdesk.common.migrate_cli", service]
        assert migrate["image"] == app["image"]
        assert app["command"] == ["python", "-m", f"frontdesk.{service.replace('-', '_')}"]


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_issue16_item1_followup_takes_its_provider_and_secrets_from_a_secret(
    rendered: dict[str, Docs], name: str
) -> None:
    env = {e["name"]: e for e in app_container(by_kind(rendered[name], "Deployment")["followup"])["env"]}
    refs = {
        var: env[var]["valueFrom"]["secretKeyRef"]
        for var in ("FOLLOWUP_PROVIDER_URL", "FOLLOWUP_WEBHOOK_SECRETS", "FOLLOWUP_PROVIDER_SIGNING_SECRETS")
    }
    assert {r["name"] for r in refs.values()} == {"followup-provider"}
    assert len({r["key"] for r in refs.values()}) == 3  # inbound and outbound: one secret list each
    config = by_kind(rendered[name], "ConfigMap")["followup-config"]["data"]
    assert not any(key.startswith("FOLLOWUP_") for key in config)  # never a value in plain config


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_reviews_takes_its_link_keys_and_public_address_from_a_secret(rendered: dict[str, Docs], name: str) -> None:
    # Without them reviews refuses to start outside the local stack, as followup does.
    env = {e["name"]: e for e in app_container(by_kind(rendered[name], "Deployment")["reviews"])["env"]}
    for var in ("REVIEWS_LINK_SIGNING_KEYS", "REVIEWS_PUBLIC_BASE_URL"):
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "reviews-links"


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_issue16_item7_probes_and_prometheus_use_the_ops_port_which_no_service_exposes(
    rendered: dict[str, Docs], name: str
) -> None:
    docs = rendered[name]
    configs = by_kind(docs, "ConfigMap")
    for service, deployment in by_kind(docs, "Deployment").items():
        app = app_container(deployment)
        ports = {p["name"]: p["containerPort"] for p in app["ports"]}
        config = configs[f"{service}-config"]["data"]
        if service == "scheduler" and name.endswith("+hl7-mllp"):
            assert ports.pop("mllp") == 2575
        assert ports == {"http": int(config["FRONTDESK_HTTP_PORT"]), "ops": int(config["FRONTDESK_OPS_PORT"])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert app[probe]["httpGet"]["port"] == "ops", (service, probe)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ports["ops"])
    for service in by_kind(docs, "Service").values():
        assert [p["targetPort"] for p in service["spec"]["ports"]] in (["http"], ["mllp"])
    if policy := by_kind(docs, "NetworkPolicy").get("frontdesk-services"):
        for rule in policy["spec"]["ingress"]:
            if any(p["port"] == "ops" for p in rule["ports"]):
                assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
                    {"kubernetes.io/metadata.name": "monitoring"}
                ]


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_the_mllp_listener_runs_only_with_its_component_and_only_with_tls(rendered: dict[str, Docs], name: str) -> None:
    # The scheduler refuses to start with an MLLP port and no TLS off the local stack: the component
    # that opens the port brings the certificate, key and client CA, read-only from their Secret.
    docs = rendered[name]
    scheduler = by_kind(docs, "Deployment")["scheduler"]
    env = {e["name"]: e.get("value") for e in app_container(scheduler)["env"]}
    if not name.endswith("+hl7-mllp"):
        assert not any(var.startswith("FRONTDESK_MLLP_") for var in env)
        assert "scheduler-mllp" not in by_kind(docs, "Service")
        return
    assert env["FRONTDESK_MLLP_PORT"] == "2575" and env["FRONTDESK_MLLP_HOST"] == "0.0.0.0"
    mounts = {m["name"]: m for m in app_container(scheduler)["volumeMounts"]}
    folder = mounts["mllp-tls"]["mountPath"]
    assert mounts["mllp-tls"]["readOnly"] is True
    assert {env[f"FRONTDESK_MLLP_{v}"] for v in ("TLS_CERT", "TLS_KEY", "CLIENT_CA")} == {
        f"{folder}/tls.crt",
        f"{folder}/tls.key",
        f"{folder}/ca.crt",
    }
    volumes = {v["name"]: v for v in scheduler["spec"]["template"]["spec"]["volumes"]}
    assert volumes["mllp-tls"]["secret"]["secretName"] == "scheduler-mllp-tls"
    service = by_kind(docs, "Service")["scheduler-mllp"]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "scheduler"}
    policy = by_kind(docs, "NetworkPolicy")["scheduler-mllp"]
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == ["mllp"]


def test_overlays_pin_images_and_namespaces(rendered: dict[str, Docs]) -> None:
    for overlay, tag in (("dev", "dev"), ("prod", "0.1.0")):
        for service, deployment in by_kind(rendered[overlay], "Deployment").items():
            assert app_container(deployment)["image"] == f"frontdesk/{service}:{tag}"
        namespaces = {d["metadata"].get("namespace") for d in rendered[overlay] if d["kind"] != "Namespace"}
        assert namespaces == {"frontdesk-dev" if overlay == "dev" else "frontdesk"}


# --- autoscaling ----------------------------------------------------------------------------------


def hpa_targets(docs: Docs) -> list[str]:
    return [h["spec"]["scaleTargetRef"]["name"] for h in docs if h["kind"] == "HorizontalPodAutoscaler"]


def keda_targets(docs: Docs) -> list[str]:
    return [s["spec"]["scaleTargetRef"]["name"] for s in docs if s["kind"] == "ScaledObject"]


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_no_deployment_has_two_autoscalers(rendered: dict[str, Docs], name: str) -> None:
    hpas, keda = hpa_targets(rendered[name]), keda_targets(rendered[name])
    assert not set(hpas) & set(keda)
    assert len(hpas) == len(set(hpas)) and len(keda) == len(set(keda))
    deployments = set(by_kind(rendered[name], "Deployment"))
    assert set(hpas) | set(keda) <= deployments


def test_prod_scales_every_consuming_deployment_on_lag(rendered: dict[str, Docs], access: Any) -> None:
    docs = rendered["prod"]
    partitions = {t.name: t.partitions for t in all_topics()}
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in docs if s["kind"] == "ScaledObject"}
    consuming = {name for name, p in access.services.items() if p.consumes}
    assert consuming == set(by_kind(docs, "Deployment"))
    assert set(scaled) == consuming - SINGLE_REPLICA
    for name in SINGLE_REPLICA:
        assert by_kind(docs, "Deployment")[name]["spec"]["replicas"] == 1
    for service, obj in scaled.items():
        principal = access.services[service]
        kafka = [t for t in obj["spec"]["triggers"] if t["type"] == "kafka"]
        topics = {t["metadata"]["topic"] for t in kafka}
        assert topics == set(principal.consumes) - CONFIG_TOPICS, service
        for trigger in kafka:
            assert trigger["metadata"]["consumerGroup"] == f"frontdesk.{service}"
            assert obj["spec"]["maxReplicaCount"] <= partitions[trigger["metadata"]["topic"]]
        assert 1 <= obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        auth = {t["authenticationRef"]["name"] for t in kafka}
        assert auth <= set(by_kind(docs, "TriggerAuthentication"))


def test_cpu_hpas_respect_partitions(rendered: dict[str, Docs], access: Any) -> None:
    partitions = {t.name: t.partitions for t in all_topics()}
    docs = rendered["base+hpa-cpu+network-policies"]
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == set(SERVICES) - SINGLE_REPLICA
    for service, hpa in hpas.items():
        work = set(access.services[service].consumes) - CONFIG_TOPICS
        assert hpa["spec"]["maxReplicas"] <= min(partitions[t] for t in work)


# --- Kafka ----------------------------------------------------------------------------------------


def kafka_listeners(docs: Docs) -> list[dict[str, Any]]:
    listeners: list[dict[str, Any]] = by_kind(docs, "Kafka")["frontdesk"]["spec"]["kafka"]["listeners"]
    return listeners


def tls_ports(docs: Docs) -> set[int]:
    return {listener["port"] for listener in kafka_listeners(docs) if listener["tls"] is True}


def bootstrap_ports(servers: str) -> set[int]:
    hosts_ports = [server.rsplit(":", 1) for server in servers.split(",")]
    assert {host for host, _ in hosts_ports} == {"frontdesk-kafka-bootstrap"}, servers
    return {int(port) for _, port in hosts_ports}


@pytest.mark.parametrize("name", OVERLAYS)
def test_kafka_has_no_clear_text_listener(rendered: dict[str, Docs], name: str) -> None:
    listeners = kafka_listeners(rendered[name])
    assert listeners
    for listener in listeners:
        assert listener["tls"] is True, listener["name"]
        assert listener["authentication"]["type"] == "scram-sha-512", listener["name"]
    assert "superUsers" not in by_kind(rendered[name], "Kafka")["frontdesk"]["spec"]["kafka"]["authorization"]


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_services_speak_scram_over_tls_to_the_tls_listener(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    for service in SERVICES:
        config = by_kind(docs, "ConfigMap")[f"{service}-config"]["data"]
        assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", service
        assert config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", service
        assert bootstrap_ports(config["KAFKA_BOOTSTRAP_SERVERS"]) <= tls_ports(docs), service


@pytest.mark.parametrize("name", ALL_RENDERINGS)
def test_app_containers_verify_brokers_with_the_mounted_cluster_ca(rendered: dict[str, Docs], name: str) -> None:
    for service, deployment in by_kind(rendered[name], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        app = app_container(deployment)
        cafile = {e["name"]: e for e in app["env"]}["KAFKA_SSL_CAFILE"]["value"]
        mount = next(m for m in app["volumeMounts"] if cafile.startswith(m["mountPath"].rstrip("/") + "/"))
        assert mount["readOnly"] is True, service
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["secret"]["secretName"] == "frontdesk-cluster-ca-cert", service
        projected = {item["path"]: item["key"] for item in volume["secret"]["items"]}
        assert projected == {cafile.removeprefix(mount["mountPath"].rstrip("/") + "/"): "ca.crt"}, service
        # `migrate` talks only to PostgreSQL: it gets neither the CA nor a Kafka password.
        migrate = pod["initContainers"][0]
        assert mount["name"] not in {m["name"] for m in migrate["volumeMounts"]}
        assert "KAFKA_SASL_PASSWORD" not in {e["name"] for e in migrate["env"]}


def test_keda_reads_lag_over_tls(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    secrets = by_kind(docs, "Secret")
    auths = by_kind(docs, "TriggerAuthentication")
    triggers = [
        t for s in by_kind(docs, "ScaledObject").values() for t in s["spec"]["triggers"] if t["type"] == "kafka"
    ]
    assert triggers
    for trigger in triggers:
        assert bootstrap_ports(trigger["metadata"]["bootstrapServers"]) <= tls_ports(docs)
        assert trigger["metadata"].get("tls", "enable") == "enable"
        refs = {r["parameter"]: r for r in auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]}
        assert (refs["ca"]["name"], refs["ca"]["key"]) == ("frontdesk-cluster-ca-cert", "ca.crt")
        assert secrets[refs["tls"]["name"]]["stringData"][refs["tls"]["key"]] == "enable"
        assert secrets[refs["sasl"]["name"]]["stringData"][refs["sasl"]["key"]] == "scram_sha512"
        # As KEDA's own principal (describe and offsets only), never as the service it scales.
        assert secrets[refs["username"]["name"]]["stringData"][refs["username"]["key"]] == "frontdesk-keda"
        assert refs["password"]["name"] == "frontdesk-keda"


def test_issue16_item3_break_glass_exists_only_when_applied(rendered: dict[str, Docs]) -> None:
    """The principal that may write every topic (dead-letter replay) is in no overlay; applying the
    break-glass component adds exactly it."""
    for name in ("dev", "prod"):
        assert "frontdesk-break-glass" not in by_kind(rendered[name], "KafkaUser"), name
    added = set(by_kind(rendered["prod+break-glass"], "KafkaUser")) - set(by_kind(rendered["prod"], "KafkaUser"))
    assert added == {"frontdesk-break-glass"}
    keda = by_kind(rendered["prod"], "KafkaUser")["frontdesk-keda"]["spec"]["authorization"]["acls"]
    assert {op for acl in keda for op in acl["operations"]} == {"Describe"}


@pytest.mark.parametrize("name", ["prod", "base+hpa-cpu+network-policies"])
def test_services_network_policy_reaches_kafka_only_on_tls_ports(rendered: dict[str, Docs], name: str) -> None:
    docs = rendered[name]
    policy = by_kind(docs, "NetworkPolicy")["frontdesk-services"]
    to_kafka = [
        rule
        for rule in policy["spec"]["egress"]
        if any(peer.get("podSelector", {}).get("matchLabels", {}).get("strimzi.io/cluster") for peer in rule["to"])
    ]
    assert to_kafka
    assert {port["port"] for rule in to_kafka for port in rule["ports"]} <= tls_ports(docs)
    # No other egress rule opens a Kafka listener port, or 9092 (Kafka's usual clear-text port), to any pod.
    listener_ports = {listener["port"] for listener in kafka_listeners(docs)} | {9092}
    others = [rule for rule in policy["spec"]["egress"] if rule not in to_kafka]
    assert not {port["port"] for rule in others for port in rule.get("ports", [])} & listener_ports


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_registry_topic_has_a_kafka_topic_and_vice_versa(rendered: dict[str, Docs], name: str) -> None:
    resources = {t["spec"]["topicName"]: t for t in rendered[name] if t["kind"] == "KafkaTopic"}
    registry = {t.name: t for t in all_topics()}
    assert set(resources) == set(registry)
    for topic, spec in registry.items():
        resource = resources[topic]["spec"]
        assert resource["partitions"] == spec.partitions
        for key, value in spec.config().items():
            assert resource["config"][key] == value, (topic, key)
        assert resources[topic]["metadata"]["labels"]["strimzi.io/cluster"] == "frontdesk"
    assert resources["clinic.configured"]["spec"]["config"]["cleanup.policy"] == "compact"


def test_kafka_cluster_is_kraft_with_authorization(rendered: dict[str, Docs]) -> None:
    docs = rendered["prod"]
    kafka = by_kind(docs, "Kafka")["frontdesk"]
    pools = by_kind(docs, "KafkaNodePool")
    assert {r for p in pools.values() for r in p["spec"]["roles"]} == {"controller", "broker"}
    assert "zookeeper" not in kafka["spec"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert all(lst["authentication"]["type"] == "scram-sha-512" for lst in kafka["spec"]["kafka"]["listeners"])
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] == "false"
    assert sum(p["spec"]["replicas"] for p in pools.values()) >= 3


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_service_has_a_kafka_user_covering_exactly_its_topics(
    rendered: dict[str, Docs], access: Any, name: str
) -> None:
    users = by_kind(rendered[name], "KafkaUser")
    for service, principal in access.services.items():
        user = users[f"frontdesk-{service}"]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        acls = user["spec"]["authorization"]["acls"]
        topic_ops = {
            a["resource"]["name"]: set(a["operations"])
            for a in acls
            if a["resource"]["type"] == "topic" and a["resource"]["patternType"] == "literal"
        }
        expected: dict[str, set[str]] = {}
        for topic in principal.consumes:
            expected.setdefault(topic, set()).update({"Read", "Describe"})
            expected.setdefault(topic + ".dlq", set()).update({"Write", "Describe"})
        for topic in principal.produces:
            expected.setdefault(topic, set()).update({"Write", "Describe"})
        assert topic_ops == expected, service
        # Prefixed topic grants only where access.yaml declares them (call-router -> vendor topics).
        prefixed = {
            (a["resource"]["name"], tuple(sorted(a["operations"])))
            for a in acls
            if a["resource"]["type"] == "topic" and a["resource"].get("patternType") == "prefix"
        }
        assert prefixed == {(prefix, tuple(sorted(ops))) for prefix, ops in principal.prefix_grants}, service
        groups = [a for a in acls if a["resource"]["type"] == "group"]
        assert [(g["resource"]["name"], g["operations"]) for g in groups] == [(f"frontdesk.{service}", ["Read"])]


def test_vendors_see_only_their_own_prefix(rendered: dict[str, Docs], access: Any) -> None:
    users = by_kind(rendered["prod"], "KafkaUser")
    assert access.vendors
    for vendor_id, principal in access.vendors.items():
        acls = users[f"vendor-{vendor_id}"]["spec"]["authorization"]["acls"]
        prefixed = [a for a in acls if a["resource"]["patternType"] == "prefix"]
        assert {(a["resource"]["type"], a["resource"]["name"]) for a in prefixed} == {
            ("topic", f"vendor.{vendor_id}."),
            ("group", f"vendor.{vendor_id}."),
        }
        shared = [a for a in acls if a["resource"]["type"] == "topic" and a["resource"]["patternType"] == "literal"]
        assert all("Read" not in a["operations"] for a in shared), vendor_id
        assert {a["resource"]["name"] for a in shared} == set(principal.produces)
