"""The console's own settings (environment, prefix CONSOLE_): the session-signing keys.

The keys are secrets and come only from the environment (a Kubernetes Secret in a cluster). Without
CONSOLE_SESSION_KEYS the console starts only when it is plainly the local stack (its database and
Kafka on loopback addresses), with a key that is public by design: a session signed with it proves
nothing outside a developer's machine. Anywhere else a missing key stops the start-up, and session
cookies are marked Secure (sent over HTTPS only).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common.settings import ServiceSettings

LOCAL_DEV_KEY = "frontdesk-console-local-stack-only-not-a-secret"  # deliberately public: loopback stacks only


class MissingSessionKey(RuntimeError):
    pass


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    # Comma-separated; the first signs new sessions, all verify (rotation). At least 32 characters each.
    session_keys: SecretStr | None = None


@dataclass(frozen=True)
class ConsoleSettings:
    session_keys: tuple[bytes, ...]
    secure_cookies: bool


def resolve(session_keys: str | None, service: ServiceSettings) -> ConsoleSettings:
    """Check the keys and fill the local-stack default; MissingSessionKey if they cannot be had."""
    keys = tuple(k.strip().encode() for k in (session_keys or "").split(",") if k.strip())
    local = service.is_local_stack()
    if not keys:
        if not local:
            raise MissingSessionKey("CONSOLE_SESSION_KEYS is required outside the local stack")
        keys = (LOCAL_DEV_KEY.encode(),)
    elif any(len(k) < 32 for k in keys):
        raise MissingSessionKey("each CONSOLE_SESSION_KEYS key must be at least 32 characters")
    return ConsoleSettings(session_keys=keys, secure_cookies=not local)


@functools.cache
def current() -> ConsoleSettings:
    raw = _Environment().session_keys
    return resolve(None if raw is None else raw.get_secret_value(), ServiceSettings.for_service("console"))
