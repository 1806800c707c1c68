"""followup's own settings (environment, prefix FOLLOWUP_): the SMS/e-mail provider and the secrets
that authenticate traffic with it, in each direction its own.

- FOLLOWUP_WEBHOOK_SECRETS verify the provider's webhooks to us (inbound replies, receipts);
- FOLLOWUP_PROVIDER_SIGNING_SECRETS sign our requests to the provider (outbound messages);
- FOLLOWUP_PROVIDER_URL is where those requests go.

Secrets are comma-separated lists (rotation): the first signs, every one verifies; at least 32
characters each. They come only from the environment (a Kubernetes Secret in a cluster). Without
them followup starts only when it is plainly the local stack (ServiceSettings.is_local_stack), with
public development secrets and the local sink instead of a provider; anywhere else it refuses to start.
"""

from __future__ import annotations

import functools

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common.settings import ServiceSettings

# Deliberately public: a signature made with them proves nothing outside a developer's machine.
LOCAL_DEV_SECRET = "frontdesk-local-dev-secret"  # noqa: S105 - local stack only
LOCAL_DEV_PROVIDER_SECRET = "frontdesk-local-dev-provider-secret"  # noqa: S105 - local stack only
MIN_SECRET_LENGTH = 32


class MissingProviderSettings(RuntimeError):
    pass


class FollowupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore")

    webhook_secrets: SecretStr | None = None
    provider_signing_secrets: SecretStr | None = None
    provider_url: str = ""

    def inbound_secrets(self) -> list[bytes]:
        """Every secret a provider webhook may be signed with."""
        return _split(self.webhook_secrets)

    def outbound_secret(self) -> bytes:
        """The secret that signs our requests to the provider (the first listed)."""
        secrets = _split(self.provider_signing_secrets)
        if not secrets:
            raise MissingProviderSettings("no FOLLOWUP_PROVIDER_SIGNING_SECRETS")
        return secrets[0]


def _split(value: SecretStr | None) -> list[bytes]:
    if value is None:
        return []
    return [s.strip().encode() for s in value.get_secret_value().split(",") if s.strip()]


def resolve(settings: FollowupSettings, service: ServiceSettings) -> FollowupSettings:
    """Check the secrets and provider; fill the local-stack defaults, or MissingProviderSettings."""
    local = service.is_local_stack()
    missing = [
        name
        for name, present in (
            ("FOLLOWUP_WEBHOOK_SECRETS", bool(settings.inbound_secrets())),
            ("FOLLOWUP_PROVIDER_SIGNING_SECRETS", bool(_split(settings.provider_signing_secrets))),
            ("FOLLOWUP_PROVIDER_URL", bool(settings.provider_url)),
        )
        if not present
    ]
    if missing and not local:
        raise MissingProviderSettings(f"{', '.join(missing)} required outside the local stack")
    updates: dict[str, object] = {}
    if not settings.inbound_secrets():
        updates["webhook_secrets"] = SecretStr(LOCAL_DEV_SECRET)
    if not _split(settings.provider_signing_secrets):
        updates["provider_signing_secrets"] = SecretStr(LOCAL_DEV_PROVIDER_SECRET)
    settings = settings.model_copy(update=updates)
    if not local:
        for name, secrets in (
            ("FOLLOWUP_WEBHOOK_SECRETS", settings.inbound_secrets()),
            ("FOLLOWUP_PROVIDER_SIGNING_SECRETS", _split(settings.provider_signing_secrets)),
        ):
            if any(len(s) < MIN_SECRET_LENGTH for s in secrets):
                raise MissingProviderSettings(f"each {name} secret must be at least {MIN_SECRET_LENGTH} characters")
        if set(settings.inbound_secrets()) & set(_split(settings.provider_signing_secrets)):
            raise MissingProviderSettings("inbound and outbound secrets must differ (one per direction)")
        if not settings.provider_url.startswith("https://"):
            raise MissingProviderSettings("FOLLOWUP_PROVIDER_URL must be an https:// URL")
    return settings


@functools.cache
def current() -> FollowupSettings:
    return resolve(FollowupSettings(), ServiceSettings.for_service("followup"))
