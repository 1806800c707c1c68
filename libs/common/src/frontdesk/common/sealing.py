"""Field-level encryption ("sealing") of one value for one recipient, with a key ring per recipient.

A value that only one party may read travels or rests sealed: a vendor's callback number on that
vendor's own topic, a caller's number in call-router's database. Sealing is AES-256-GCM under the
recipient's active key, with a fresh random 96-bit nonce per value. The associated data binds the
ciphertext to its recipient and to the record it belongs to, so it cannot be replayed onto another
record or opened as another recipient's:

    AAD = UTF-8 of "<recipient>\\n<aad>"     e.g. "nightowl-answering\\ncall.overflowed/<clinic>/<call>"

A `SealedField` carries the key id (`kid`), the nonce and the ciphertext (with its 16-byte tag), both
base64 (standard alphabet, padded), so any AES-GCM library can open it.

Keys come from configuration, FRONTDESK_SEALING_KEYS, a JSON object:

    {"<recipient>": {"active": "<kid>", "keys": {"<kid>": "<base64 of 32 random bytes>", ...}}, ...}

New values are sealed under the recipient's `active` key; a value opens while its `kid` is still in
the ring. Rotation: add a key and make it active (values sealed under the old kid still open); retire
the old kid once nothing sealed under it is still needed (opening then fails with `UnknownKey`).
Nothing here logs, and no error message carries, key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

ENV = "FRONTDESK_SEALING_KEYS"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
_BASE64 = r"^[A-Za-z0-9+/]+={0,2}$"
_ID = r"^[A-Za-z0-9._:@-]{1,128}$"  # contracts.base.Id (not imported: the contracts import this module)


class SealingError(Exception):
    """Sealing configuration or a sealed value is unusable. Messages never carry keys or plaintext."""


class UnknownKey(SealingError):
    """No key for this recipient, or the value's key id is not (or no longer) in the ring."""


class CannotOpen(SealingError):
    """The value does not open: another recipient's key, another record's AAD, or tampering."""


class SealedField(BaseModel):
    """A value sealed for one recipient (AES-256-GCM). Opaque to everyone else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: str = Field(pattern=_ID, description="The recipient's key id the value is sealed under")
    nonce: str = Field(pattern=_BASE64, max_length=24, description="Base64 of the 12-byte AES-GCM nonce")
    ciphertext: str = Field(
        pattern=_BASE64, max_length=4096, description="Base64 of the ciphertext followed by the 16-byte GCM tag"
    )


@dataclass(frozen=True)
class RecipientKeys:
    """One recipient's ring: every key it may still open with, and the one new values use."""

    active: str
    keys: Mapping[str, bytes] = field(repr=False)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _aad(recipient: str, aad: str) -> bytes:
    return f"{recipient}\n{aad}".encode()


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class Keyring:
    """Per-recipient AES-256-GCM keys; see the module docstring for the format and rotation."""

    def __init__(self, rings: Mapping[str, RecipientKeys] | None = None) -> None:
        rings = dict(rings or {})
        for recipient, ring in rings.items():
            if ring.active not in ring.keys:
                raise SealingError(f"{ENV}: the active key {ring.active!r} of {recipient!r} is not among its keys")
            for kid, key in ring.keys.items():
                if len(key) != KEY_BYTES:
                    raise SealingError(f"{ENV}: key {kid!r} of {recipient!r} is not {KEY_BYTES} bytes")
        self._rings = rings

    # --- configuration ---------------------------------------------------------------------------

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            doc = json.loads(text)
        except ValueError:
            raise SealingError(f"{ENV} is not JSON") from None
        if not isinstance(doc, dict):
            raise SealingError(f"{ENV} must be a JSON object of recipients")
        rings: dict[str, RecipientKeys] = {}
        for recipient, entry in doc.items():
            if not isinstance(recipient, str) or not _is_id(recipient):
                raise SealingError(f"{ENV}: recipient {recipient!r} is not an id")
            if not isinstance(entry, dict) or set(entry) != {"active", "keys"}:
                raise SealingError(f'{ENV}: {recipient!r} needs exactly "active" and "keys"')
            active, keys = entry["active"], entry["keys"]
            if not isinstance(active, str) or not isinstance(keys, dict) or not keys:
                raise SealingError(f'{ENV}: {recipient!r} needs a string "active" and a non-empty "keys" object')
            decoded: dict[str, bytes] = {}
            for kid, encoded in keys.items():
                if not _is_id(kid):
                    raise SealingError(f"{ENV}: key id {kid!r} of {recipient!r} is not an id")
                try:
                    decoded[kid] = _b64decode(encoded) if isinstance(encoded, str) else b""
                except (binascii.Error, ValueError):
                    decoded[kid] = b""  # reported below as the wrong length, without echoing it
            rings[recipient] = RecipientKeys(active=active, keys=decoded)
        return cls(rings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The ring configured in FRONTDESK_SEALING_KEYS (empty when unset)."""
        text = (os.environ if environ is None else environ).get(ENV, "").strip()
        return cls.from_json(text) if text else cls()

    def to_json(self) -> str:
        """The configuration document (key material included: for secrets and dev state only)."""
        return json.dumps(
            {
                recipient: {
                    "active": ring.active,
                    "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in ring.keys.items()},
                }
                for recipient, ring in self._rings.items()
            },
            indent=2,
            sort_keys=True,
        )

    def __repr__(self) -> str:
        return f"Keyring({ {r: sorted(ring.keys) for r, ring in self._rings.items()} })"

    # --- rotation --------------------------------------------------------------------------------

    def rotated(self, recipient: str, kid: str, key: bytes | None = None) -> Keyring:
        """A copy in which `recipient` has the new key `kid` (random unless given) as its active key;
        its older keys stay, so what they sealed still opens. A new recipient gets its first key."""
        if not _is_id(kid):
            raise SealingError(f"key id {kid!r} is not an id")
        old = self._rings.get(recipient)
        if old is not None and kid in old.keys:
            raise SealingError(f"{recipient!r} already has a key {kid!r}: key ids are never reused")
        keys = {**(old.keys if old else {}), kid: key if key is not None else new_key()}
        return Keyring({**self._rings, recipient: RecipientKeys(active=kid, keys=keys)})

    def retired(self, recipient: str, kid: str) -> Keyring:
        """A copy without `recipient`'s key `kid` (never the active one): what it sealed stops opening."""
        ring = self._ring(recipient)
        if kid == ring.active:
            raise SealingError(f"{kid!r} is the active key of {recipient!r}: rotate to another key first")
        keys = {k: v for k, v in ring.keys.items() if k != kid}
        return Keyring({**self._rings, recipient: RecipientKeys(active=ring.active, keys=keys)})

    def only(self, recipients: Iterable[str]) -> Keyring:
        """The part of the ring to hand to some recipients (a vendor gets its own keys, nobody else's)."""
        wanted = set(recipients)
        return Keyring({r: ring for r, ring in self._rings.items() if r in wanted})

    # --- use -------------------------------------------------------------------------------------

    def has(self, recipient: str) -> bool:
        return recipient in self._rings

    def active_kid(self, recipient: str) -> str:
        return self._ring(recipient).active

    def seal(self, recipient: str, plaintext: str, aad: str) -> SealedField:
        """Seal `plaintext` for `recipient` under its active key, bound to `aad` (the record's identity)."""
        ring = self._ring(recipient)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(ring.keys[ring.active]).encrypt(nonce, plaintext.encode(), _aad(recipient, aad))
        return SealedField(
            kid=ring.active,
            nonce=base64.b64encode(nonce).decode("ascii"),
            ciphertext=base64.b64encode(sealed).decode("ascii"),
        )

    def open(self, recipient: str, sealed: SealedField, aad: str) -> str:
        """The plaintext of a value sealed for `recipient` with this `aad`; raises UnknownKey when its
        key is not (or no longer) in the ring, CannotOpen when it does not authenticate."""
        ring = self._ring(recipient)
        key = ring.keys.get(sealed.kid)
        if key is None:
            raise UnknownKey(
                f"no key {sealed.kid!r} for {recipient!r} in the ring (retired, or never configured in {ENV})"
            )
        try:
            nonce, ciphertext = _b64decode(sealed.nonce), _b64decode(sealed.ciphertext)
            if len(nonce) != NONCE_BYTES:
                raise CannotOpen(f"a value sealed for {recipient!r} has a nonce of {len(nonce)} bytes")
            return AESGCM(key).decrypt(nonce, ciphertext, _aad(recipient, aad)).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise CannotOpen(
                f"a value sealed for {recipient!r} under key {sealed.kid!r} does not open:"
                " another recipient's key, another record, or tampered with"
            ) from None

    def _ring(self, recipient: str) -> RecipientKeys:
        ring = self._rings.get(recipient)
        if ring is None:
            raise UnknownKey(f"no keys for {recipient!r} (configure them in {ENV})")
        return ring


def _is_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(_ID, value) is not None


__all__ = [
    "ENV",
    "CannotOpen",
    "Keyring",
    "RecipientKeys",
    "SealedField",
    "SealingError",
    "UnknownKey",
    "new_key",
]
