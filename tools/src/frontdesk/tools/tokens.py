"""API tokens for the local stack, and `frontdesk token` for anyone running Frontdesk without an
identity provider of their own.

The local stack keeps one Ed25519 signing key in its state folder (auth/signing-key.pem, mode 0600)
and hands the services its public key (FRONTDESK_AUTH_PUBLIC_KEYS). A deployment with its own issuer
gives the services that issuer's public keys instead and never needs this module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from frontdesk.common.auth import READ, WRITE, generate_signing_key, issue_token


class SigningKey:
    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "auth"

    @property
    def private_file(self) -> Path:
        return self.folder / "signing-key.pem"

    @property
    def public_file(self) -> Path:
        return self.folder / "public-keys.pem"

    def ensure(self) -> None:
        if self.private_file.exists() and self.public_file.exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = generate_signing_key()
        fd = os.open(self.private_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(private_pem)
        self.public_file.write_text(public_pem)

    def public_keys(self) -> str:
        self.ensure()
        return self.public_file.read_text()

    def token(
        self,
        subject: str,
        clinics: Sequence[str] | None = None,
        scopes: Sequence[str] = (READ, WRITE),
        ttl_seconds: int = 12 * 3600,
    ) -> str:
        self.ensure()
        return issue_token(self.private_file.read_text(), subject, clinics, scopes, ttl_seconds)
