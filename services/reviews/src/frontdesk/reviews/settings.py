"""reviews' own settings (environment, prefix REVIEWS_): the feedback-link signing keys and public URL.

The signing keys are secrets and come only from the environment (a Kubernetes Secret in a cluster).
Without REVIEWS_LINK_SIGNING_KEYS the service starts only when it is plainly the local stack (its
database and Kafka on loopback addresses), with a key that is public by design: a link signed with it
proves nothing outside a developer's machine. Anywhere else, a missing key stops the start-up.
"""

from __future__ import annotations

import functools

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common.settings import ServiceSettings

LOCAL_DEV_KEY = "frontdesk-local-stack-only-not-a-secret"  # deliberately public: loopback stacks only


class MissingSigningKey(RuntimeError):
    pass


class ReviewsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore")

    # Comma-separated; the first signs new links, all verify (rotation). At least 32 characters each.
    link_signing_keys: SecretStr | None = None
    public_base_url: str = Field("", description="Where patients reach the feedback page, e.g. https://feedback.x")
    link_ttl_hours: int = Field(14 * 24, ge=1, le=90 * 24)

    def keys(self) -> list[bytes]:
        if self.link_signing_keys is None:
            return []
        return [k.strip().encode() for k in self.link_signing_keys.get_secret_value().split(",") if k.strip()]


def resolve(settings: ReviewsSettings, service: ServiceSettings) -> ReviewsSettings:
    """Check the keys and fill the local-stack defaults; MissingSigningKey if they cannot be had."""
    keys = settings.keys()
    local = service.is_local_stack()
    if not keys:
        if not local:
            raise MissingSigningKey("REVIEWS_LINK_SIGNING_KEYS is required outside the local stack")
        settings = settings.model_copy(update={"link_signing_keys": SecretStr(LOCAL_DEV_KEY)})
    elif any(len(k) < 32 for k in keys):
        raise MissingSigningKey("each REVIEWS_LINK_SIGNING_KEYS key must be at least 32 characters")
    if not settings.public_base_url:
        if not local:
            raise MissingSigningKey("REVIEWS_PUBLIC_BASE_URL is required outside the local stack")
        # followup only sends https links to patients; locally the page is also served on plain
        # http at the same port (in production a TLS terminator fronts REVIEWS_PUBLIC_BASE_URL).
        settings = settings.model_copy(update={"public_base_url": f"https://127.0.0.1:{service.http_port}"})
    return settings


@functools.cache
def current() -> ReviewsSettings:
    return resolve(ReviewsSettings(), ServiceSettings.for_service("reviews"))
