"""Callers' numbers: kept sealed under the router's own key, re-sealed for the vendor a call goes to.

The telephony integration registers a caller's number over HTTP (entrypoints/callers.py) under the
caller_token that call.received carries, so shared topics never see a number. When the router hands
a call to a vendor, the copy on that vendor's own topic carries the number sealed with the vendor's
active key (`CallOverflowed.callback`); the copy on the shared call.overflowed carries none. Keys:
FRONTDESK_SEALING_KEYS (frontdesk.common.sealing), with the router's own under `call-router`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from frontdesk.common.contracts import CallOverflowed
from frontdesk.common.db import Connection
from frontdesk.common.logging import get_logger
from frontdesk.common.sealing import Keyring, SealedField, SealingError
from frontdesk.common.timer_payloads import CallersPruneTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .adapters import callers as store

log = get_logger(__name__)
OWN_KEYS = "call-router"  # the router's own recipient in FRONTDESK_SEALING_KEYS (numbers at rest)
RETENTION = timedelta(days=30)
# Read once, at import: a malformed configuration stops the process at start, not in a handler.
KEYRING = Keyring.from_env()


def _at_rest_aad(clinic_id: str, caller_token: str) -> str:
    return f"callers/{clinic_id}/{caller_token}"


async def register(uow: UnitOfWork, clinic_id: str, caller_token: str, number: str, now: datetime) -> datetime:
    """Keep `number` (sealed) for this caller of this clinic; return when it expires."""
    sealed = KEYRING.seal(OWN_KEYS, number, _at_rest_aad(clinic_id, caller_token))
    expires_at = now + RETENTION
    await store.upsert(uow.conn, clinic_id, caller_token, sealed.model_dump(), now, expires_at)
    # One prune timer per expiry day (the same key for every registration that day): no chain to keep.
    day = expires_at.astimezone(UTC).date()
    due = datetime.combine(day + timedelta(days=1), time(), UTC)
    await uow.set_timer(f"callers-prune:{day.isoformat()}", due, CallersPruneTimer())
    return expires_at


async def forget(conn: Connection, clinic_id: str, caller_token: str) -> bool:
    return await store.delete(conn, clinic_id, caller_token)


async def on_prune(timer: Timer[CallersPruneTimer], uow: UnitOfWork) -> None:
    deleted = await store.delete_expired(uow.conn, datetime.now(UTC))
    log.info("expired caller numbers deleted", count=deleted)


def sealed_for_vendor(stored: dict[str, Any] | None, event: CallOverflowed) -> SealedField | None:
    """The caller's number on file (`stored`, sealed under the router's own key) sealed for
    `event.vendor_id` (bound to this call), or None when there is no number on file or no way to seal
    it for this vendor. Never the number in clear."""
    outcome, callback = "no_number", None
    if stored is not None:
        if event.vendor_id == OWN_KEYS or not KEYRING.has(event.vendor_id):
            # A vendor named like the router's own recipient must never get a callback sealed with its key.
            outcome = "no_vendor_key"
            log.warning(
                "no sealing key for vendor: call handed over without its callback number", vendor_id=event.vendor_id
            )
        else:
            try:
                number = KEYRING.open(
                    OWN_KEYS, SealedField.model_validate(stored), _at_rest_aad(event.clinic_id, event.caller_token)
                )
                outcome, callback = "sealed", KEYRING.seal(event.vendor_id, number, event.callback_aad())
            except SealingError as exc:  # the router's old key was retired, or the row was altered
                outcome = "unreadable"
                log.warning("a caller number on file does not open", clinic_id=event.clinic_id, error=str(exc))
    telemetry.VENDOR_CALLBACKS.labels(event.vendor_id, outcome).inc()
    return callback
