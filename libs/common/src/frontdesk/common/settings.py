"""Settings from the environment, the same names for every service.

KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL point a service at existing infrastructure; a per-service
`<SERVICE>_DATABASE_URL` (for example SCHEDULER_DATABASE_URL) wins over DATABASE_URL, so one process
environment can hold the URLs of several services' databases.

Each service listens on two ports: FRONTDESK_HTTP_PORT for what patients, webhooks and API clients
need, FRONTDESK_OPS_PORT for operations (probes, Prometheus, the OpenAPI document), which is never
exposed outside the cluster.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HTTP_PORTS = {
    "call-router": 8001,
    "scheduler": 8002,
    "followup": 8003,
    "reviews": 8004,
    "console": 8005,
    "phone-bridge": 8006,
}
DEFAULT_OPS_PORTS = {
    "call-router": 9001,
    "scheduler": 9002,
    "followup": 9003,
    "reviews": 9004,
    "console": 9005,
    "phone-bridge": 9006,
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_POSTGRES_PORT = 54329


def local_database_url(service: str, port: int = LOCAL_POSTGRES_PORT, host: str = "127.0.0.1") -> str:
    return f"postgresql://postgres@{host}:{port}/{database_name(service)}"


def is_loopback_stack(settings: ServiceSettings) -> bool:
    """Plainly a developer's machine: its database and every Kafka broker on loopback addresses.
    Anything else is production, where the safe defaults are required rather than reported."""
    db_host = urlsplit(settings.database_url).hostname or ""
    kafka_hosts = {h.rsplit(":", 1)[0].strip("[]") for h in settings.kafka_bootstrap_servers.split(",")}
    return db_host in LOOPBACK_HOSTS and kafka_hosts <= LOOPBACK_HOSTS


def database_name(service: str) -> str:
    return "frontdesk_" + service.replace("-", "_")


def env_prefix(service: str) -> str:
    return service.replace("-", "_").upper() + "_"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="ignore")

    service: str = Field("frontdesk")
    kafka_bootstrap_servers: str = Field(
        LOCAL_KAFKA, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "FRONTDESK_KAFKA_BOOTSTRAP_SERVERS")
    )
    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    ops_port: int = 0
    # Request bodies larger than this are refused with 413 before they are read (every route).
    max_request_bytes: int = Field(1_048_576, ge=1024)
    # How many reverse proxies (ingress, load balancer) in front of the service append to
    # X-Forwarded-For: the client address is the one the outermost trusted proxy saw. 0: the peer
    # address itself (X-Forwarded-For ignored, as any client can write it).
    trusted_proxy_hops: int = Field(0, ge=0, le=10)
    log_level: str = "INFO"
    log_json: bool = True

    # Consumer behaviour: a failing handler is tried this many times, with exponential backoff, before
    # its record goes to the dead-letter topic. Infrastructure outages are retried without limit.
    max_attempts: int = Field(3, ge=1, le=20)
    retry_backoff_seconds: float = Field(0.2, ge=0)
    retry_backoff_max_seconds: float = Field(5.0, gt=0)

    outbox_batch_size: int = Field(500, ge=1)
    outbox_poll_seconds: float = Field(0.5, gt=0)
    timer_poll_seconds: float = Field(0.5, gt=0)
    db_pool_size: int = Field(10, ge=2)
    shutdown_timeout_seconds: float = Field(20.0, gt=0)
    # Liveness fails when one record has been in a handler for longer than this (a stuck consumer).
    stuck_handler_seconds: float = Field(300.0, gt=0)

    # HTTP API tokens are verified with these Ed25519 public keys (PEM blocks; several during a key
    # rollover). Without any, every API request is refused with 401.
    auth_public_keys: str = ""
    # Per-deployment overrides of rate limits, requests per minute by bucket: {"holds": 120}.
    rate_limits: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def for_service(cls, service: str) -> ServiceSettings:
        settings = cls(service=service)
        url = (
            os.environ.get(env_prefix(service) + "DATABASE_URL")
            or os.environ.get("DATABASE_URL")
            or local_database_url(service)
        )
        port = settings.http_port or int(
            os.environ.get(env_prefix(service) + "HTTP_PORT", DEFAULT_HTTP_PORTS.get(service, 8000))
        )
        ops_port = settings.ops_port or int(
            os.environ.get(env_prefix(service) + "OPS_PORT", DEFAULT_OPS_PORTS.get(service, 9000))
        )
        return settings.model_copy(update={"database_url": url, "http_port": port, "ops_port": ops_port})

    @property
    def consumer_group(self) -> str:
        """The service's Kafka consumer group, also the consumer its inbox rows name."""
        return f"frontdesk.{self.service}"

    def retry_backoff(self, attempt: int) -> float:
        """Seconds to wait before trying a failed handler again after its `attempt`-th failure."""
        return float(min(self.retry_backoff_seconds * (2 ** (attempt - 1)), self.retry_backoff_max_seconds))

    def is_local_stack(self) -> bool:
        """Plainly a developer's machine: the database and every Kafka broker on loopback addresses.
        Only there may a service start with its public, development-only secrets."""
        db_host = urlsplit(self.database_url).hostname or ""
        kafka_hosts = {h.strip().rsplit(":", 1)[0].strip("[]") for h in self.kafka_bootstrap_servers.split(",")}
        return db_host in LOOPBACK_HOSTS and kafka_hosts <= LOOPBACK_HOSTS
