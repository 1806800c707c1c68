"""Kafka clients with safe settings and the process's identity, and topic creation from the registry.

aiokafka's own defaults are unsafe for us (acks=1, no idempotence): every producer here waits for
all in-sync replicas and is idempotent, so a retried send never writes a record twice.

Identity: every client authenticates as the principal named by KAFKA_SASL_USERNAME /
KAFKA_SASL_PASSWORD over KAFKA_SECURITY_PROTOCOL (SASL_PLAINTEXT or SASL_SSL, SCRAM-SHA-512 by
default); one principal per service and per vendor, whose ACLs come from deploy/access.yaml.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .contracts import TopicSpec, all_topics
from .contracts.registry import MIN_INSYNC_REPLICAS, REPLICATION_FACTOR
from .logging import get_logger

log = get_logger(__name__)

# A dead letter carries the original record plus headers: allow twice the largest record.
MAX_REQUEST_BYTES = 2 * 1024 * 1024 + 64 * 1024


class KafkaSecurity(BaseSettings):
    """Who this process is on the bus, from KAFKA_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context: ssl.SSLContext = create_ssl_context(cafile=self.ssl_cafile)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka producers, consumers and admin clients."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if context := self._ssl_context():
            options["ssl_context"] = context
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        return options


def client_options(security: KafkaSecurity | None = None) -> dict[str, Any]:
    return (security or KafkaSecurity()).client_options()


def make_producer(
    bootstrap_servers: str, client_id: str, security: KafkaSecurity | None = None, *, linger_ms: int = 2
) -> AIOKafkaProducer:
    # The safe settings, never the library's defaults: every in-sync replica acknowledges, and the
    # idempotent producer neither duplicates nor reorders a record when it retries.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        request_timeout_ms=30_000,
        max_request_size=MAX_REQUEST_BYTES,
        **client_options(security),
    )


def make_reader(bootstrap_servers: str, client_id: str, security: KafkaSecurity | None = None) -> AIOKafkaConsumer:
    """A consumer outside any group (tools, taps): it reads assigned partitions and commits nothing."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        **client_options(security),
    )


def make_admin(bootstrap_servers: str, client_id: str, security: KafkaSecurity | None = None) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id, **client_options(security))


async def ensure_topics(
    bootstrap_servers: str, topics: list[TopicSpec] | None = None, security: KafkaSecurity | None = None
) -> list[str]:
    """Create every registry topic that is missing, replicated as production replicates them on a
    cluster of several brokers (replication factor 3, min.insync.replicas 2: creation fails while
    fewer than three brokers are up, and the caller retries) and unreplicated on a single broker
    (the local stack, the dev overlay); return the names created."""
    wanted = topics if topics is not None else all_topics()
    admin = make_admin(bootstrap_servers, "frontdesk-topics", security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if not missing:
            return []
        replicated = len((await admin.describe_cluster())["brokers"]) > 1
        factor, min_isr = (REPLICATION_FACTOR, MIN_INSYNC_REPLICAS) if replicated else (1, 1)
        new = [NewTopic(t.name, t.partitions, factor, topic_configs=t.replicated_config(min_isr)) for t in missing]
        response = await admin.create_topics(new)
        # The broker answers per topic; TOPIC_ALREADY_EXISTS: another process created it meanwhile.
        errors = [e for e in response.topic_errors if e[1] not in (0, TopicAlreadyExistsError.errno)]
        if errors:
            raise RuntimeError(f"creating topics failed (topic, error code, message): {errors}")
        for t in missing:
            log.info("topic created", topic=t.name, partitions=t.partitions, replicas=factor)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def topic_partitions(
    bootstrap_servers: str, topics: list[str], security: KafkaSecurity | None = None
) -> list[TopicPartition]:
    """Every partition of `topics`; raise LookupError naming any topic that does not exist."""
    admin = make_admin(bootstrap_servers, "frontdesk-describe", security)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = [d["topic"] for d in described if d["error_code"] != 0 or not d["partitions"]]
    if missing:
        raise LookupError(f"topics do not exist: {missing}")
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
