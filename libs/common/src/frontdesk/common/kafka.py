"""Kafka clients with safe settings, and topic creation from the registry.

aiokafka's own defaults are unsafe for us (acks=1, no idempotence): every producer here waits for
all in-sync replicas and is idempotent, so a retried send never writes a record twice.
"""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .contracts import TopicSpec, all_topics
from .logging import get_logger

log = get_logger(__name__)

# A dead letter carries the original record plus headers: allow twice the largest record.
MAX_REQUEST_BYTES = 2 * 1024 * 1024 + 64 * 1024

SAFE_PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 2,
    "request_timeout_ms": 30_000,
    "max_request_size": MAX_REQUEST_BYTES,
}


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        **SAFE_PRODUCER_SETTINGS,
    )


async def ensure_topics(bootstrap_servers: str, topics: list[TopicSpec] | None = None) -> list[str]:
    """Create every registry topic that is missing; return the names created."""
    wanted = topics if topics is not None else all_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="frontdesk-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if not missing:
            return []
        with contextlib.suppress(TopicAlreadyExistsError):  # another process created them meanwhile
            await admin.create_topics([NewTopic(t.name, t.partitions, 1, topic_configs=t.config()) for t in missing])
        for t in missing:
            log.info("topic created", topic=t.name, partitions=t.partitions)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`; raise LookupError naming any topic that does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="frontdesk-describe")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = [d["topic"] for d in described if d["error_code"] != 0 or not d["partitions"]]
    if missing:
        raise LookupError(f"topics do not exist: {missing}")
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"])
