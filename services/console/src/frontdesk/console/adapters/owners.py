"""The owning services' HTTP APIs, called with the staff member's own token: followup (callbacks),
reviews (recovery tasks and the patient's comment, read at view time).

Their addresses come from CONSOLE_FOLLOWUP_URL and CONSOLE_REVIEWS_URL. A
refusal by the owner (4xx) is passed on with its reason; an owner that cannot be reached is an
`OwnerUnavailable` (the console then says nothing was changed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

Owner = Literal["followup", "reviews"]
TIMEOUT_SECONDS = 5.0


class _Urls(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    followup_url: str | None = None
    reviews_url: str | None = None


@functools.cache
def _urls() -> _Urls:
    return _Urls()


class OwnerUnavailable(Exception):
    def __init__(self, owner: Owner, why: str) -> None:
        super().__init__(f"{owner} cannot be reached ({why})")
        self.owner = owner


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def reason(self) -> str:
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        return str(detail) if detail else f"HTTP {self.status}"


async def call(owner: Owner, method: str, path: str, token: str, **kwargs: Any) -> Answer:
    base = getattr(_urls(), f"{owner}_url")
    if not base:
        raise OwnerUnavailable(owner, f"CONSOLE_{owner.upper()}_URL is not set")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT_SECONDS) as client:
            response = await client.request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise OwnerUnavailable(owner, type(exc).__name__) from None
    if response.status_code >= 500:
        raise OwnerUnavailable(owner, f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    return Answer(response.status_code, body)
