"""The console's own settings (environment, prefix CONSOLE_): the session-signing keys and the
organisation's OpenID Connect provider.

The keys are secrets and come only from the environment (a Kubernetes Secret in a cluster). Without
CONSOLE_SESSION_KEYS the console starts only when it is plainly the local stack (its database and
Kafka on loopback addresses), with a key that is public by design: a session signed with it proves
nothing outside a developer's machine. Anywhere else a missing key stops the start-up, and session
cookies are marked Secure (sent over HTTPS only).

Sign-in outside the local stack is through the OpenID Connect provider only (CONSOLE_OIDC_ISSUER,
_CLIENT_ID and _REDIRECT_URL are then required); the form that takes a Frontdesk token is for the
local stack alone, where the provider is optional.
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


class MissingSignInProvider(RuntimeError):
    pass


class _Environment(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    # Comma-separated; the first signs new sessions, all verify (rotation). At least 32 characters each.
    session_keys: SecretStr | None = None
    # The organisation's OpenID Connect provider (authorization code with PKCE).
    oidc_issuer: str | None = None  # its discovery document is <issuer>/.well-known/openid-configuration
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None  # none: a public client (PKCE alone)
    oidc_redirect_url: str | None = None  # https://<console's address>/sign-in/oidc/callback
    oidc_scopes: str = "openid"
    oidc_clinics_claim: str = "clinics"  # the ID token's claim with the clinic ids (or ["*"])
    oidc_scope_claim: str = "scope"  # the ID token's claim with "read" / "read write", as the APIs' tokens
    oidc_provider_name: str = "your organisation"  # the sign-in button says "Sign in with <this>"


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_url: str
    scopes: str
    clinics_claim: str
    scope_claim: str
    provider_name: str


@dataclass(frozen=True)
class ConsoleSettings:
    session_keys: tuple[bytes, ...]
    secure_cookies: bool
    oidc: OidcSettings | None = None
    token_sign_in: bool = False  # the /sign-in form that takes a Frontdesk token: the local stack only


def resolve(session_keys: str | None, service: ServiceSettings, oidc: OidcSettings | None = None) -> ConsoleSettings:
    """Check the keys and the sign-in provider, fill the local-stack default; MissingSessionKey or
    MissingSignInProvider if they cannot be had."""
    keys = tuple(k.strip().encode() for k in (session_keys or "").split(",") if k.strip())
    local = service.is_local_stack()
    if not keys:
        if not local:
            raise MissingSessionKey("CONSOLE_SESSION_KEYS is required outside the local stack")
        keys = (LOCAL_DEV_KEY.encode(),)
    elif any(len(k) < 32 for k in keys):
        raise MissingSessionKey("each CONSOLE_SESSION_KEYS key must be at least 32 characters")
    if oidc is None and not local:
        raise MissingSignInProvider(
            "CONSOLE_OIDC_ISSUER, CONSOLE_OIDC_CLIENT_ID and CONSOLE_OIDC_REDIRECT_URL are required"
            " outside the local stack (staff sign in through the organisation's OpenID Connect provider)"
        )
    if oidc is not None and not local and not all(u.startswith("https://") for u in (oidc.issuer, oidc.redirect_url)):
        raise MissingSignInProvider("CONSOLE_OIDC_ISSUER and CONSOLE_OIDC_REDIRECT_URL must be https:// URLs")
    return ConsoleSettings(session_keys=keys, secure_cookies=not local, oidc=oidc, token_sign_in=local)


def _oidc(env: _Environment) -> OidcSettings | None:
    named = {"CONSOLE_OIDC_ISSUER": env.oidc_issuer, "CONSOLE_OIDC_CLIENT_ID": env.oidc_client_id}
    named["CONSOLE_OIDC_REDIRECT_URL"] = env.oidc_redirect_url
    if not any(named.values()):
        return None
    if missing := [name for name, value in named.items() if not value]:
        raise MissingSignInProvider(f"OpenID Connect sign-in is half configured: {', '.join(missing)} missing")
    assert env.oidc_issuer and env.oidc_client_id and env.oidc_redirect_url
    secret = env.oidc_client_secret
    return OidcSettings(
        issuer=env.oidc_issuer,
        client_id=env.oidc_client_id,
        client_secret=(secret.get_secret_value() or None) if secret is not None else None,
        redirect_url=env.oidc_redirect_url,
        scopes=env.oidc_scopes,
        clinics_claim=env.oidc_clinics_claim,
        scope_claim=env.oidc_scope_claim,
        provider_name=env.oidc_provider_name,
    )


@functools.cache
def current() -> ConsoleSettings:
    env = _Environment()
    raw = env.session_keys
    return resolve(None if raw is None else raw.get_secret_value(), ServiceSettings.for_service("console"), _oidc(env))
