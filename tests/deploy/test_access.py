"""deploy/access.yaml, the one source of Kafka access, against the code and the topic registry."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from frontdesk.common.contracts import VENDOR_ID_PATTERN
from frontdesk.common.contracts.registry import DLQ_SUFFIX, EVENTS, all_topics

REPO = Path(__file__).resolve().parents[2]

SERVICES = ("call-router", "scheduler", "followup", "reviews", "console", "phone-bridge")


def test_access_lists_every_service(access: Any) -> None:
    assert set(access.services) == set(SERVICES)


def test_consumes_match_what_the_code_subscribes_to(access: Any, code_consumes: Callable[[str], set[str]]) -> None:
    drift = {
        service: {"code": sorted(code_consumes(service)), "access.yaml": sorted(p.consumes)}
        for service, p in access.services.items()
        if set(p.consumes) != code_consumes(service)
    }
    assert not drift, f"deploy/access.yaml `consumes` drifted from the services' DEFINITIONs: {drift}"


def constructed_events(service: str) -> set[str]:
    """Event types with a shared topic whose model the service's source constructs (`Model(`): what it
    emits there. (A type with no shared topic, such as call.withdrawn, goes only to vendors' own
    topics, under the service's prefix grant.)"""
    source = "\n".join(p.read_text() for p in (REPO / "services" / service / "src").rglob("*.py"))
    return {
        event_type
        for event_type, spec in EVENTS.items()
        if spec.topic is not None and re.search(rf"\b{re.escape(spec.model.__name__)}\(", source)
    }


def _literal_prefix(pattern: str) -> str:
    """What every topic a regex matches starts with: `^vendor\\.[a-z]+\\.events$` -> `vendor.`."""
    match = re.match(r"\^((?:\\.|[A-Za-z0-9_-])*)", pattern)
    assert match is not None, pattern
    return re.sub(r"\\(.)", r"\1", match.group(1))


def test_topic_patterns_the_code_subscribes_to_are_granted(
    access: Any, code_topic_patterns: Callable[[str], tuple[str, ...]]
) -> None:
    """A pattern subscription (call-router: every vendor.<id>.events) needs Read + Describe on a
    prefix covering it (the group is granted already), and Write for its dead letters `<topic>.dlq`."""
    assert code_topic_patterns("call-router"), "call-router reads the vendors' own event topics"
    for service, p in access.services.items():
        for pattern in code_topic_patterns(service):
            prefix = _literal_prefix(pattern)
            ops = {op for granted, operations in p.prefix_grants if prefix.startswith(granted) for op in operations}
            assert {"Read", "Describe", "Write"} <= ops, f"{service}: no prefix grant covers {pattern} ({prefix})"


def test_produces_match_the_events_each_service_constructs(access: Any) -> None:
    drift = {
        service: {"constructed": sorted(constructed_events(service)), "access.yaml": sorted(p.produces)}
        for service, p in access.services.items()
        if set(p.produces) != constructed_events(service)
    }
    assert not drift, f"deploy/access.yaml `produces` drifted from what the services emit: {drift}"


def test_groups_are_the_consumer_groups_the_code_uses(access: Any) -> None:
    for service, principal in access.services.items():
        assert principal.group == f"frontdesk.{service}"  # EventConsumer.group_id


def test_every_named_topic_is_in_the_registry(access: Any) -> None:
    registry = {t.name for t in all_topics()}
    for principal in access.principals():
        unknown = {*principal.consumes, *principal.produces} - registry
        assert not unknown, f"{principal.user}: not in the topic registry: {sorted(unknown)}"
        assert not [t for t in principal.produces if t.endswith(DLQ_SUFFIX)], "dead letters are implied"


def test_acl_rules_follow_the_documented_rules(access: Any, generator: Any) -> None:
    topics = all_topics()
    scheduler = generator.topic_operations(access.services["scheduler"], topics)
    assert scheduler["appointment.requested"] == {"Read", "Describe"}
    assert scheduler["appointment.requested.dlq"] == {"Write", "Describe"}
    assert scheduler["appointment.booked"] == {"Write", "Describe"}
    operator = generator.topic_operations(access.clients["frontdesk-operator"], topics)
    configuration = ("clinic.configured", "network.configured")
    assert operator == {t: {"Read", "Write", "Describe"} for t in configuration}  # `frontdesk apply` only
    break_glass = generator.topic_operations(access.clients["frontdesk-break-glass"], topics)
    dlqs = {t.name for t in topics if t.name.endswith(DLQ_SUFFIX)}
    assert {t for t, ops in break_glass.items() if "Read" in ops} == dlqs
    vendor = next(iter(access.vendors.values()))
    assert all("Read" not in ops for ops in generator.topic_operations(vendor, topics).values())


def test_issue16_item3_no_principal_has_more_than_it_needs(access: Any, generator: Any) -> None:
    """Vendors write no shared topic (their requests go through call-router's checks); only a
    break-glass client may replay dead letters (write every topic); KEDA may describe, never read."""
    topics = all_topics()
    for vendor in access.vendors.values():
        assert not vendor.produces and not generator.topic_operations(vendor, topics), vendor.user
    for client in access.clients.values():
        assert not client.dlq_replay or client.break_glass, client.user
    keda = access.lag_reader
    assert keda is not None
    keda_ops = generator.topic_operations(keda, topics)
    configuration = ("clinic.configured", "network.configured")  # compacted: no lag to scale on
    work = {t for p in access.services.values() for t in p.consumes if t not in configuration}
    assert keda_ops == {t: {"Describe"} for t in work}
    groups = [r for r in generator.acl_rules(keda, topics) if r["resource"]["type"] == "group"]
    assert {(g["resource"]["name"], tuple(g["operations"])) for g in groups} == {
        (p.group, ("Describe",)) for p in access.services.values()
    }
    with pytest.raises(ValueError, match="break_glass"):
        raw = Path(generator.ACCESS_FILE).read_text().replace("    break_glass: true\n", "")
        tmp = Path(tempfile.mkdtemp()) / "access.yaml"
        tmp.write_text(raw)
        generator.load_access(tmp)


def test_vendor_ids_are_usable_as_topic_prefixes(access: Any) -> None:
    for vendor_id in access.vendors:
        assert re.fullmatch(VENDOR_ID_PATTERN, vendor_id)


def test_issue16_item9_a_dotted_vendor_id_in_access_yaml_is_refused(generator: Any, tmp_path: Path) -> None:
    # vendor "a"'s prefix ACL `vendor.a.` would cover vendor "a.b"'s topics `vendor.a.b.calls`...
    raw = yaml.safe_load((REPO / "deploy" / "access.yaml").read_text())
    raw["vendors"] = [{"id": "a", "produces": []}, {"id": "a.b", "produces": []}]
    path = tmp_path / "access.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"access.yaml: vendors\[1\].id: vendor id 'a.b' must be .*no dots"):
        generator.load_access(path)


def test_every_topic_has_a_producer(access: Any) -> None:
    produced = {t for p in access.principals() for t in p.produces}
    topics = {t.name for t in all_topics() if not t.name.endswith(DLQ_SUFFIX)}
    assert not topics - produced, f"no principal may produce {sorted(topics - produced)}"


def test_acl_bindings_for_a_broker_without_strimzi(access: Any, generator: Any) -> None:
    bindings = generator.acl_bindings(access, all_topics())
    keys = {
        (b["principal"], b["resource_type"], b["resource_name"], b["pattern_type"], b["operation"]) for b in bindings
    }
    assert ("User:frontdesk-scheduler", "TOPIC", "appointment.requested", "LITERAL", "READ") in keys
    assert ("User:frontdesk-scheduler", "GROUP", "frontdesk.scheduler", "LITERAL", "READ") in keys
    assert ("User:frontdesk-scheduler", "TOPIC", "appointment.requested", "LITERAL", "WRITE") not in keys
    vendor = next(iter(access.vendors))
    assert ("User:vendor-" + vendor, "TOPIC", f"vendor.{vendor}.", "PREFIXED", "WRITE") in keys  # Kafka's name
    # The break-glass client replays every dead-letter topic, each vendor's events included, and
    # nothing else of a vendor's: not its calls.
    operator = "User:frontdesk-break-glass"
    assert (operator, "TOPIC", f"vendor.{vendor}.events.dlq", "LITERAL", "READ") in keys
    assert (operator, "TOPIC", f"vendor.{vendor}.events", "LITERAL", "WRITE") in keys
    assert not {k for k in keys if k[0] == operator and k[2] == f"vendor.{vendor}.calls" and k[4] == "READ"}
    assert {b["pattern_type"] for b in bindings} == {"LITERAL", "PREFIXED"}
