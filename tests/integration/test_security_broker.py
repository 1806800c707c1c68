"""The broker's access control, on a real Kafka with SASL/SCRAM-SHA-512 and the StandardAuthorizer.

Proves: every principal of deploy/access.yaml may do exactly what that file says and nothing else (a
matrix of principals x every topic x write/read, plus consumer groups); one vendor cannot read another
vendor's topic, and writes its reports and requests on its own vendor.<id>.events only (not another
vendor's, not the shared topics); KEDA's principal reads offsets only; anonymous clients and wrong
passwords are refused; a service runs as its own principal with only its own ACLs and still does its
whole job.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ClusterAuthorizationFailedError, KafkaError
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError

from frontdesk.common.contracts import (
    CallReceived,
    ClinicConfig,
    TopicSpec,
    all_topics,
    vendor_calls_topic,
    vendor_events_topic,
    vendor_topics,
)
from frontdesk.common.kafka import KafkaSecurity, ensure_topics, make_producer
from frontdesk.testing.helpers import send_events, uid
from frontdesk.tools.access import ADMIN, access_file, service_principal, vendor_principal
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack
from frontdesk.tools.tap import EventTap

VENDORS = ("nightowl-answering", "pacific-answering")
VENDOR_TOPICS = [t.name for v in VENDORS for t in vendor_topics(v)]  # .calls, .events, .events.dlq


def _expected_rights() -> dict[str, dict[str, set[str]]]:
    """principal -> {"read": topics, "write": topics, "groups": group names or prefixes}, restated
    from deploy/access.yaml's own rules (its header), independently of the ACL generator."""
    access = yaml.safe_load(access_file().read_text())
    registry = [t.name for t in all_topics()]
    rights: dict[str, dict[str, set[str]]] = {}
    everything = [*registry, *VENDOR_TOPICS]

    def prefixed(spec: dict[str, Any], operation: str) -> set[str]:
        prefixes = [g["prefix"] for g in spec.get("topic_prefixes", []) if operation in g["operations"]]
        return {t for t in everything for prefix in prefixes if t.startswith(prefix)}

    for name, svc in access["services"].items():
        rights[service_principal(name)] = {
            "read": set(svc["consumes"]) | prefixed(svc, "Read"),
            "write": set(svc["produces"]) | {f"{t}.dlq" for t in svc["consumes"]} | prefixed(svc, "Write"),
            "groups": {svc["group"]},
        }
    for vendor in access["vendors"]:
        own = {t for t in everything if t.startswith(f"vendor.{vendor['id']}.")}
        rights[vendor_principal(vendor["id"])] = {
            "read": own,
            "write": own | set(vendor.get("produces", [])),
            "groups": {f"vendor.{vendor['id']}."},
        }
    for name, client in access["clients"].items():
        read = set(client.get("consumes", [])) | prefixed(client, "Read")
        write = set(client.get("produces", [])) | prefixed(client, "Write")
        if client.get("dlq_replay"):
            read |= {t for t in everything if t.endswith(".dlq")}
            write |= {t.removesuffix(".dlq") for t in everything if t.endswith(".dlq")} | {
                t for t in registry if not t.endswith(".dlq")
            }
        rights[name] = {"read": read, "write": write, "groups": {client["group"]}}
    if access.get("lag_reader"):  # KEDA: offsets only (describe), never a record
        rights[access["lag_reader"]] = {"read": set(), "write": set(), "groups": set()}
    return rights


@pytest.fixture(scope="module")
def secure() -> Iterator[LocalStack]:
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-test-secure-"))  # not under pytest's pruned basetemp
    stack = LocalStack.ephemeral(state_dir, secure=True)
    try:
        stack.start_infrastructure()
        asyncio.run(
            ensure_topics(
                stack.bootstrap, [TopicSpec(t, partitions=1) for t in VENDOR_TOPICS], security=stack.security()
            )
        )
        asyncio.run(_seed_every_topic(stack))
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


async def _seed_every_topic(stack: LocalStack) -> None:
    """One record in partition 0 of every topic (written by the super user), for the read matrix."""
    producer = make_producer(stack.bootstrap, "acl-seed", stack.security())
    await producer.start()
    try:
        for topic in [t.name for t in all_topics()] + VENDOR_TOPICS:
            await producer.send_and_wait(topic, b"seed", key=b"seed", partition=0)  # compacted topics need keys
    finally:
        await producer.stop()


def _rdkafka_config(stack: LocalStack, principal: str, **extra: Any) -> dict[str, Any]:
    env = stack.client_env(principal)
    return {
        "bootstrap.servers": stack.bootstrap,
        "security.protocol": env["KAFKA_SECURITY_PROTOCOL"],
        "sasl.mechanism": env["KAFKA_SASL_MECHANISM"],
        "sasl.username": principal,
        "sasl.password": env["KAFKA_SASL_PASSWORD"],
        "ssl.ca.location": env["KAFKA_SSL_CAFILE"],
        **extra,
    }


def _readable(stack: LocalStack, principal: str, topics: list[str], expected: set[str]) -> set[str]:
    """The topics `principal` can actually read: fetch partition 0 of every topic at once with
    librdkafka (an independent client) and keep those whose seeded record arrives. A refusal shows as
    silence, so a slow broker can only make this test fail, never pass wrongly."""
    consumer = Consumer(_rdkafka_config(stack, principal, **{"group.id": "unused", "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(t, 0, 0) for t in topics])
        readable: set[str] = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                readable.add(msg.topic())
            if readable >= expected:  # all it may read arrived: watch a little longer for extras
                deadline = min(deadline, time.monotonic() + 2)
        return readable
    finally:
        consumer.close()


async def _write_allowed(stack: LocalStack, principal: str, topics: list[str]) -> set[str]:
    producer = make_producer(stack.bootstrap, f"acl-test-{principal}", stack.security(principal))
    try:
        await producer.start()
    except ClusterAuthorizationFailedError:
        # An idempotent producer needs Write on some topic to get a producer id: one with no Write
        # anywhere (KEDA's lag reader) cannot even start.
        await producer.stop()
        return set()
    allowed: set[str] = set()
    try:
        for topic in topics:
            try:
                await asyncio.wait_for(producer.send_and_wait(topic, b"acl probe", key=b"probe"), 15)
                allowed.add(topic)
            except KafkaError as exc:
                assert "AuthorizationFailed" in type(exc).__name__, exc
    finally:
        await producer.stop()
    return allowed


def test_every_principal_may_read_exactly_what_access_yaml_grants(secure: LocalStack) -> None:
    topics = sorted([t.name for t in all_topics()] + VENDOR_TOPICS)
    for principal, rights in _expected_rights().items():
        assert _readable(secure, principal, topics, rights["read"]) == rights["read"], principal


async def test_every_principal_may_write_exactly_what_access_yaml_grants(secure: LocalStack) -> None:
    topics = sorted([t.name for t in all_topics()] + VENDOR_TOPICS)
    for principal, rights in _expected_rights().items():
        assert await _write_allowed(secure, principal, topics) == rights["write"], principal


def test_consumer_groups_are_per_principal(secure: LocalStack) -> None:
    def join(principal: str, group: str, topic: str = "clinic.configured") -> bool:
        consumer = Consumer(_rdkafka_config(secure, principal, **{"group.id": group, "session.timeout.ms": 6000}))
        try:
            consumer.subscribe([topic])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() and msg.error().code() == RdKafkaError.GROUP_AUTHORIZATION_FAILED:
                    return False
                if consumer.assignment():
                    return True
            return False
        finally:
            consumer.close()

    assert join(service_principal("scheduler"), "frontdesk.scheduler")
    assert not join(service_principal("scheduler"), "frontdesk.call-router")
    nightowl, own_calls = vendor_principal("nightowl-answering"), "vendor.nightowl-answering.calls"
    assert not join(nightowl, "frontdesk.call-router", own_calls)
    assert join(nightowl, "vendor.nightowl-answering.agents", own_calls)
    assert not join(nightowl, "vendor.pacific-answering.agents", own_calls)


def test_one_vendor_never_reads_another_vendors_calls(secure: LocalStack) -> None:
    nightowl = vendor_principal("nightowl-answering")
    own = {t for t in VENDOR_TOPICS if t.startswith("vendor.nightowl-answering.")}
    assert _readable(secure, nightowl, VENDOR_TOPICS, own) == own


async def test_a_vendor_reports_on_its_own_events_topic_only(secure: LocalStack) -> None:
    nightowl = vendor_principal("nightowl-answering")
    probes = [
        vendor_events_topic("nightowl-answering"),
        vendor_events_topic("pacific-answering"),
        vendor_calls_topic("pacific-answering"),
        "call.answered",
        "call.ended",
        # what a vendor asks for goes through call-router's checks, never straight to a shared topic
        "appointment.requested",
        "callback.requested",
    ]
    assert await _write_allowed(secure, nightowl, probes) == {vendor_events_topic("nightowl-answering")}


def test_issue16_item3_keda_reads_offsets_and_nothing_else(secure: LocalStack) -> None:
    """KEDA's principal fetches a service group's committed offsets and a topic's end offsets (what
    lag needs), but reads no record, joins no group and sees no other group's offsets."""
    keda = "frontdesk-keda"
    work = TopicPartition("appointment.requested", 0)
    consumer = Consumer(_rdkafka_config(secure, keda, **{"group.id": "frontdesk.scheduler"}))
    try:
        low, high = consumer.get_watermark_offsets(work, timeout=15)
        assert high >= low + 1  # the seeded record
        [committed] = consumer.committed([work], timeout=15)
        assert committed.error is None
    finally:
        consumer.close()
    stranger = Consumer(_rdkafka_config(secure, keda, **{"group.id": "phone-system.desk"}))
    try:
        with pytest.raises(KafkaException):
            stranger.committed([TopicPartition("call.routed", 0)], timeout=15)
    finally:
        stranger.close()
    assert _readable(secure, keda, ["appointment.requested", "visit.completed"], set()) == set()


async def test_anonymous_and_wrong_password_clients_are_refused(secure: LocalStack) -> None:
    anonymous = AIOKafkaProducer(bootstrap_servers=secure.bootstrap, request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(anonymous.start(), 20)
    await anonymous.stop()
    reviews = secure.client_env(service_principal("reviews"))
    right = {"sasl_username": service_principal("reviews"), "ssl_cafile": reviews["KAFKA_SSL_CAFILE"]}
    refused = {
        "wrong password": KafkaSecurity(security_protocol="SASL_SSL", sasl_password="not-the-password", **right),
        # the listener speaks TLS only: the right password in clear never gets as far as SASL
        "no TLS": KafkaSecurity(
            security_protocol="SASL_PLAINTEXT", sasl_password=reviews["KAFKA_SASL_PASSWORD"], **right
        ),
        # the client trusts only the system's CAs, which did not sign the broker's certificate
        "an unknown CA": KafkaSecurity(
            security_protocol="SASL_SSL", sasl_password=reviews["KAFKA_SASL_PASSWORD"], **{**right, "ssl_cafile": None}
        ),
    }
    for why, security in refused.items():
        impostor = make_producer(secure.bootstrap, "impostor", security)
        with pytest.raises((KafkaError, OSError)):
            await asyncio.wait_for(impostor.start(), 20)
            pytest.fail(f"a client with {why} was let in")
        await impostor.stop()
    assert ADMIN not in _expected_rights()  # nobody runs as the super user


async def test_a_service_does_its_job_as_its_own_principal(secure: LocalStack) -> None:
    clinic = ClinicConfig.model_validate(
        {
            "clinic_id": "secure-clinic",
            "name": "Secure Test Clinic",
            "timezone": "Europe/London",
            "phone": {"front_desk_pool": "desk", "answering_service": "nightowl-answering"},
        }
    )
    router = secure.service("call-router")
    router.start()
    try:
        await publish(secure.bootstrap, [clinic], security=secure.security("frontdesk-operator"))
        call = CallReceived(
            call_id=uid("call"), clinic_id="secure-clinic", received_at=datetime.now(UTC), caller_token="tok-secure"
        )
        phone = secure.security("phone-system")
        async with EventTap(secure.bootstrap, ["call.routed"], security=phone) as tap:
            # The clinic must be in the router's directory before the call: retry the call until routed.
            deadline = time.monotonic() + 90
            while not tap.matching(lambda e: getattr(e.data, "call_id", None) == call.call_id):
                assert time.monotonic() < deadline, "the router never routed the call under its own principal"
                await send_events(secure.bootstrap, [call], security=phone)
                await tap.settle(2.0)
    finally:
        router.stop()
