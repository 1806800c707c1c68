"""Vendor isolation rules (pure): a vendor speaks only for itself, its clinics and its own calls.

A vendor writes on its own topic `vendor.<id>.events`, which Kafka ACLs give to it alone, so the
topic says who wrote a record. These rules say whether what it wrote is that vendor's business.
Each returns why not (a short reason with ids only, for the dead letter and the log), or None.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from .lifecycle import StoredCall, holders_of

OTHER_CLINIC = "the call belongs to another clinic"


def names_itself(sender: str | None, vendor_id: str) -> str | None:
    """The vendor an event names must be the one whose topic carried it."""
    if sender is None:
        return "not on a vendor's own topic"
    return None if vendor_id == sender else f"names vendor {vendor_id} on the topic of vendor {sender}"


def serves_clinic(vendor_id: str, clinic_vendors: Collection[str]) -> str | None:
    return None if vendor_id in clinic_vendors else "the vendor does not serve the clinic"


def same_clinic(call: StoredCall | None, clinic_id: str) -> str | None:
    """Any producer's outcome of a call (answered, ended, abandoned, declined) must name the call's own
    clinic: acting on it would lock, count, release and route for the clinic it names, with the
    other clinic's caller (a callback, an offer to its desk or vendor). A call not known yet: None."""
    if call is not None and call.clinic_id != clinic_id:
        return OTHER_CLINIC
    return None


@dataclass(frozen=True, slots=True)
class KeptOutcome:
    """An outcome kept before what it is about arrived (an early_outcomes row)."""

    event_type: str
    clinic_id: str  # the clinic it names
    vendor_id: str  # the vendor that wrote it on its own topic; '' for the phone system
    payload: dict[str, Any]


def own_outcomes(
    kept: Sequence[KeptOutcome], clinic_id: str, vendor_id: str = ""
) -> tuple[dict[str, dict[str, Any]], list[KeptOutcome]]:
    """Split the outcomes kept about a call (or message) that just arrived: those naming its clinic
    (and vendor), by event type, and the others, which are not its own and are refused. Each was kept
    apart, so another clinic's (or vendor's) never took the place of the genuine one."""
    own = {k.event_type: k.payload for k in kept if (k.clinic_id, k.vendor_id) == (clinic_id, vendor_id)}
    return own, [k for k in kept if (k.clinic_id, k.vendor_id) != (clinic_id, vendor_id)]


def was_handed(vendor_id: str, call: StoredCall | None, clinic_id: str) -> str | None:
    """The call must be one the router handed to this vendor (now, or before a failover). A vendor
    learns of calls only from its vendor.<id>.calls, so a call the router does not know is not its."""
    if call is None:
        return "the call is unknown to the router"
    if (other := same_clinic(call, clinic_id)) is not None:
        return other
    if vendor_id not in holders_of(call):
        return "the call was not handed to this vendor"
    return None


def answered_as_itself(vendor_id: str, answered_by_kind: str, answered_by_id: str) -> str | None:
    """A vendor reports only its own answers (never a receptionist's, never another vendor's)."""
    if (answered_by_kind, answered_by_id) != ("answering_service", vendor_id):
        return "the answer names someone other than the vendor"
    return None


def answered_by(vendor_id: str, call: StoredCall | None, clinic_id: str) -> str | None:
    """Only the vendor that answered a call may end it."""
    handed = was_handed(vendor_id, call, clinic_id)
    if handed is not None:
        return handed
    assert call is not None
    if (call.answered_by_kind, call.answered_by_id) != ("answering_service", vendor_id):
        return "the call was not answered by this vendor"
    return None


def owns_message(vendor_id: str, message: dict[str, Any] | None, clinic_id: str) -> str | None:
    """Pages of a message are reported by the vendor that took it, for its clinic."""
    if message is None:
        return "the message is unknown to the router"
    if message["clinic_id"] != clinic_id or message["vendor_id"] != vendor_id:
        return "the message belongs to another vendor or clinic"
    return None
