"""phone-bridge's own settings (environment, prefix PHONE_BRIDGE_): its SIP socket and its patience.

CALLER_TOKEN_KEY keys the hash that turns a caller's SIP user into the opaque `caller_token`; it is a
secret (the same caller must get the same token, and nobody else may compute it from a number).
Without it the bridge starts only on the local stack, with a key that is public by design.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from frontdesk.common.settings import ServiceSettings

LOCAL_DEV_KEY = "frontdesk-phone-bridge-local-stack-only-not-a-secret"  # deliberately public: loopback only


class MissingCallerTokenKey(RuntimeError):
    pass


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHONE_BRIDGE_", extra="ignore")

    sip_host: str = "127.0.0.1"
    sip_port: int = 5071
    # How long a routing question waits for the router before the clinic's vendors ring instead.
    router_wait_seconds: float = 2.0
    caller_token_key: SecretStr | None = None


@dataclass(frozen=True)
class BridgeSettings:
    sip_host: str
    sip_port: int
    router_wait_seconds: float
    caller_token_key: bytes


def resolve(env: _Environment, service: ServiceSettings) -> BridgeSettings:
    key = env.caller_token_key.get_secret_value() if env.caller_token_key else ""
    if not key:
        if not service.is_local_stack():
            raise MissingCallerTokenKey("PHONE_BRIDGE_CALLER_TOKEN_KEY is required outside the local stack")
        key = LOCAL_DEV_KEY
    elif len(key) < 32:
        raise MissingCallerTokenKey("PHONE_BRIDGE_CALLER_TOKEN_KEY must be at least 32 characters")
    return BridgeSettings(env.sip_host, env.sip_port, env.router_wait_seconds, key.encode())


@functools.cache
def current() -> BridgeSettings:
    return resolve(_Environment(), ServiceSettings.for_service("phone-bridge"))
