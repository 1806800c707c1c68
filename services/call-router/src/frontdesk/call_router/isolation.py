"""Vendor isolation, wired to the consumer: who wrote the event being handled, and refusing it.

A vendor's events arrive on its own topic `vendor.<id>.events` (the topic names the writer; the
Kafka ACLs let no one else write there). The rules are in domain/vendor_isolation.py. A refused
event is not acted on: it goes to `vendor.<id>.events.dlq` with the reason (MalformedEvent: no retry
can make it right), with a warning log and `frontdesk_vendor_events_refused_total`. Ids only, in
both: never a caller token or anything about the caller. The phone system's outcomes on the shared
topics are refused the same way (vendor "-") when they name a clinic other than the call's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from frontdesk.common.cloudevents import MalformedEvent
from frontdesk.common.contracts import vendor_of_events_topic
from frontdesk.common.logging import get_logger
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .domain.vendor_isolation import KeptOutcome

log = get_logger(__name__)


def sender(uow: UnitOfWork) -> str | None:
    """The vendor whose own topic carried the event being handled (None: a shared topic, or a timer)."""
    topic = uow.cause.topic if uow.cause is not None else None
    return vendor_of_events_topic(topic) if topic else None


def refused(event_type: str, vendor_id: str, clinic_id: str, reason: str) -> None:
    """Count and log a refusal (audit trail: who, what, for which clinic, why)."""
    telemetry.VENDOR_EVENTS_REFUSED.labels(vendor_id, event_type).inc()
    log.warning("vendor event refused", event_type=event_type, vendor_id=vendor_id, clinic_id=clinic_id, reason=reason)


def refused_kept(kept: Sequence[KeptOutcome], reason: str) -> None:
    """Count and log kept outcomes found not to be their call's (or message's) own when it arrived.
    Their records were consumed when they were kept, so there is no dead letter: this is their trail."""
    for k in kept:
        refused(k.event_type, k.vendor_id or "-", k.clinic_id, reason)


def check(event_type: str, vendor_id: str | None, clinic_id: str, *reasons: str | None) -> None:
    """Refuse the event (dead letter) at the first rule that says why not."""
    reason = next((r for r in reasons if r is not None), None)
    if reason is not None:
        _refuse(event_type, vendor_id or "-", clinic_id, reason)


def _refuse(event_type: str, vendor_id: str, clinic_id: str, reason: str) -> NoReturn:
    refused(event_type, vendor_id, clinic_id, reason)
    if vendor_id == "-":  # a shared topic's producer (the phone system): no vendor to name
        raise MalformedEvent(f"event refused: {reason} (clinic {clinic_id})")
    raise MalformedEvent(f"vendor event refused: {reason} (vendor {vendor_id}, clinic {clinic_id})")
