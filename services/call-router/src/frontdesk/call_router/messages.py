"""Answering-service vendor messages: on-call paging with escalation, and the routine digest.

- `answering.message_taken`, on the vendor's own topic `vendor.<id>.events`: the router checks that it
  names that vendor, that the vendor serves the clinic and, when it names a call, that the call was
  handed to that vendor: the vendor-isolation rule (isolation.py). Anything else is refused (dead
  letter, logged, counted, not acted on).
- Urgent: the clinic's on-call roster is paged until `answering.page_acknowledged` names the message
  (paging.py, which urgent calls share).
- Routine: joins the clinic's digest for its next opening (a durable timer at that UTC instant,
  computed in the clinic's zone, so DST is zoneinfo's job); released as `answering.digest_released`;
  each message is then acknowledged by staff over HTTP (`answering.message_acknowledged`).
- A message that needs a callback asks for one (`callback.requested`, reason vendor_message).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from frontdesk.common.contracts import (
    CallbackRequested,
    ClinicConfig,
    MessageDigestReleased,
    VendorHeartbeat,
    VendorMessageTaken,
    VendorPageAcknowledged,
    VendorPageSent,
)
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import DigestReleaseTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import isolation, paging, telemetry
from .adapters import early_outcomes, pages, repository
from .adapters import messages as store
from .domain.vendor_isolation import names_itself, own_outcomes, owns_message, serves_clinic, was_handed
from .domain.vendor_messages import Page, digest_due_at
from .unknown_clinics import clinic_or_fallback

log = get_logger(__name__)
_EARLY_ACK = "answering.page_acknowledged"


def _now() -> datetime:
    return datetime.now(UTC)


def _vendors(clinic: ClinicConfig) -> set[str]:
    return {v.vendor_id for v in clinic.phone.effective_vendors()}


async def _clinic_or_fallback(
    uow: UnitOfWork, event: VendorMessageTaken | VendorPageAcknowledged, sender: str | None
) -> ClinicConfig:
    """The clinic, or the network fallback serving a clinic the router does not know (its vendor took a
    message on such a call: delivered at once, there are no hours or roster). A clinic neither covers
    is refused at once: no retry can make it known, and retries would hold up the vendor's topic."""
    clinic = await clinic_or_fallback(uow, event.clinic_id)
    if clinic is None:
        isolation.check(event.event_type, sender, event.clinic_id, "the clinic is unknown to the router")
    assert clinic is not None
    return clinic


def _digest_id(clinic_id: str, due: datetime) -> str:
    digest = hashlib.sha256(f"{clinic_id}|{due.isoformat()}".encode()).hexdigest()[:16]
    return f"dg-{due:%Y%m%dT%H%MZ}-{digest}"


async def _open_digest(uow: UnitOfWork, clinic: ClinicConfig, event: VendorMessageTaken, now: datetime) -> str:
    """The digest the message joins: the clinic's next one for a routine message, one due now
    otherwise (or when the next one was already released)."""
    if event.urgency == "urgent":
        log.warning(
            "urgent message but the clinic has no on-call roster: delivered at once", clinic_id=clinic.clinic_id
        )
    due = (digest_due_at(clinic, now) if event.urgency == "routine" else None) or now
    digest_id = _digest_id(clinic.clinic_id, due)
    existing = await store.digest(uow.conn, digest_id)
    if existing is not None and existing["released_at"] is not None:
        due, digest_id = now, _digest_id(clinic.clinic_id, now) + "-" + event.message_id[:40]
    await store.open_digest(uow.conn, digest_id, clinic.clinic_id, due)
    return digest_id


async def _request_callback(uow: UnitOfWork, event: VendorMessageTaken) -> None:
    """The caller asked to be called back: open a callback (once per caller) and say so."""
    callback_id = f"cb-{event.message_id}"
    opened = await repository.open_callback(
        uow.conn, callback_id, event.clinic_id, event.caller_token, event.call_id or event.message_id, event.taken_at
    )
    if opened:
        await uow.emit(
            CallbackRequested(
                callback_id=callback_id,
                clinic_id=event.clinic_id,
                caller_token=event.caller_token,
                patient_id=event.patient_id,
                reason="vendor_message",
                urgency=event.urgency,
                requested_at=event.taken_at,
            )
        )


async def handle_message_taken(event: VendorMessageTaken, uow: UnitOfWork) -> None:
    sender = isolation.sender(uow)
    await repository.lock_clinic(uow.conn, event.clinic_id)
    clinic = await _clinic_or_fallback(uow, event, sender)
    call = await repository.get_call(uow.conn, event.call_id) if event.call_id is not None else None
    isolation.check(
        event.event_type,
        sender,
        event.clinic_id,
        names_itself(sender, event.vendor_id),
        serves_clinic(event.vendor_id, _vendors(clinic)),
        was_handed(event.vendor_id, call, event.clinic_id) if event.call_id is not None else None,
    )
    now = _now()
    roster = clinic.phone.on_call
    to_page = event.urgency == "urgent" and bool(roster)
    digest_id = None if to_page else await _open_digest(uow, clinic, event, now)
    status = "paging" if to_page else "pending"
    if not await store.insert_message(uow.conn, event, status=status, digest_id=digest_id, now=now):
        return  # the same message again (another event id): acted on once
    telemetry.VENDOR_MESSAGES.labels(event.clinic_id, event.vendor_id, event.urgency).inc()
    if event.callback_needed:
        await _request_callback(uow, event)
    # an acknowledgement kept by another vendor (or naming another clinic) is refused, and never took
    # the place of this vendor's own
    own, refused = own_outcomes(
        await early_outcomes.take(uow.conn, event.message_id, [_EARLY_ACK]), event.clinic_id, event.vendor_id
    )
    isolation.refused_kept(refused, "acknowledged another vendor's message")
    ack = VendorPageAcknowledged.model_validate(own[_EARLY_ACK]) if own else None
    if to_page:
        if ack is not None:  # the provider acknowledged before the message reached us: nothing to page
            # never after it was heard (a vendor's clock running ahead)
            await store.acknowledge(uow.conn, event.message_id, ack.provider_id, min(ack.acknowledged_at, now))
            return
        first = Page(now, roster[0].provider_id, 0, 0)
        await paging.send(uow, clinic, paging.Paged(message_id=event.message_id), (event.vendor_id,), first, now)
    else:
        assert digest_id is not None
        row = await store.digest(uow.conn, digest_id)
        assert row is not None
        await uow.set_timer(
            f"digest:{digest_id}", row["due_at"], DigestReleaseTimer(digest_id=digest_id, clinic_id=clinic.clinic_id)
        )


async def handle_page_sent(event: VendorPageSent, uow: UnitOfWork) -> None:
    sender = isolation.sender(uow)
    await repository.lock_clinic(uow.conn, event.clinic_id)
    row = await store.get_message(uow.conn, event.message_id, for_update=True)
    isolation.check(
        event.event_type,
        sender,
        event.clinic_id,
        names_itself(sender, event.vendor_id),
        owns_message(event.vendor_id, row, event.clinic_id),
    )
    await store.page_sent(uow.conn, event.message_id)


async def handle_page_acknowledged(event: VendorPageAcknowledged, uow: UnitOfWork) -> None:
    sender = isolation.sender(uow)
    await repository.lock_clinic(uow.conn, event.clinic_id)
    isolation.check(event.event_type, sender, event.clinic_id, names_itself(sender, event.vendor_id))
    if event.call_id is not None:
        await _call_page_acknowledged(event, event.call_id, uow)
        return
    assert event.message_id is not None  # the contract names exactly one
    row = await store.get_message(uow.conn, event.message_id, for_update=True)
    if row is None:
        clinic = await _clinic_or_fallback(uow, event, sender)
        isolation.check(event.event_type, sender, event.clinic_id, serves_clinic(event.vendor_id, _vendors(clinic)))
        # Its message has not arrived (e.g. it is being replayed from a dead letter): kept until it
        # does, which checks that the same vendor took it.
        await early_outcomes.save(uow.conn, event.message_id, event, event.clinic_id, event.vendor_id)
        return
    isolation.check(event.event_type, sender, event.clinic_id, owns_message(event.vendor_id, row, event.clinic_id))
    if row["status"] != "paging":
        return  # acknowledged already
    await paging.acknowledged(
        uow, paging.Paged(message_id=event.message_id), row, event.provider_id, event.acknowledged_at
    )


async def _call_page_acknowledged(event: VendorPageAcknowledged, call_id: str, uow: UnitOfWork) -> None:
    """An urgent call's page acknowledged, by a vendor the call was handed to (it delivers the pages)."""
    call = await repository.get_call(uow.conn, call_id)
    isolation.check(
        event.event_type, event.vendor_id, event.clinic_id, was_handed(event.vendor_id, call, event.clinic_id)
    )
    row = await pages.get(uow.conn, call_id, for_update=True)
    if row is None or row["status"] != "paging":
        return  # not paged (no roster), or acknowledged already
    await paging.acknowledged(uow, paging.Paged(call_id=call_id), row, event.provider_id, event.acknowledged_at)


async def handle_heartbeat(event: VendorHeartbeat, uow: UnitOfWork) -> None:
    sender = isolation.sender(uow)
    isolation.check(event.event_type, sender, "-", names_itself(sender, event.vendor_id))
    # A clock ahead of ours must not keep a vendor "healthy" after it stops.
    await store.touch_heartbeat(uow.conn, event.vendor_id, min(event.sent_at, _now()))


async def on_digest_due(timer: Timer[DigestReleaseTimer], uow: UnitOfWork) -> None:
    """The clinic opens: release its digest of routine messages."""
    clinic_id, digest_id = timer.payload.clinic_id, timer.payload.digest_id
    await repository.lock_clinic(uow.conn, clinic_id)
    row = await store.digest(uow.conn, digest_id, for_update=True)
    if row is None or row["released_at"] is not None:
        return
    now = _now()
    message_ids = await store.release_digest(uow.conn, digest_id, now)
    if message_ids:
        await uow.emit(
            MessageDigestReleased(digest_id=digest_id, clinic_id=clinic_id, message_ids=message_ids, released_at=now)
        )
        telemetry.DIGEST_MESSAGES.labels(clinic_id).inc(len(message_ids))
