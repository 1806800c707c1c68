"""Vendor isolation rules: a vendor speaks only for itself, its clinics and the calls handed to it."""

from __future__ import annotations

from collections.abc import Callable

from frontdesk.call_router.domain.lifecycle import StoredCall
from frontdesk.call_router.domain.vendor_isolation import (
    KeptOutcome,
    answered_as_itself,
    answered_by,
    names_itself,
    own_outcomes,
    owns_message,
    same_clinic,
    serves_clinic,
    was_handed,
)


def test_a_vendor_names_itself_on_its_own_topic() -> None:
    assert names_itself("acme", "acme") is None
    assert names_itself("acme", "other") == "names vendor other on the topic of vendor acme"
    assert names_itself(None, "acme") == "not on a vendor's own topic"


def test_a_vendor_speaks_for_the_clinics_it_serves() -> None:
    assert serves_clinic("acme", {"acme", "other"}) is None
    assert serves_clinic("acme", {"other"}) is not None


def test_a_call_is_the_vendors_if_it_was_handed_to_it_now_or_before_a_failover(
    stored_call: Callable[..., StoredCall],
) -> None:
    assert was_handed("acme", stored_call(vendor_id="acme"), "c1") is None
    assert was_handed("acme", stored_call(vendor_id="other", tried=["vendor:acme"]), "c1") is None
    assert was_handed("acme", stored_call(vendor_id="other"), "c1") == "the call was not handed to this vendor"
    assert was_handed("acme", stored_call(vendor_id=None, tried=["pool:desk"]), "c1") is not None
    assert was_handed("acme", stored_call(vendor_id="acme"), "c2") == "the call belongs to another clinic"
    assert was_handed("acme", None, "c1") == "the call is unknown to the router"


def test_any_producers_outcome_names_the_calls_own_clinic(stored_call: Callable[..., StoredCall]) -> None:
    assert same_clinic(stored_call(), "c1") is None
    assert same_clinic(None, "c2") is None  # not known yet: kept until the call arrives
    assert same_clinic(stored_call(), "c2") == "the call belongs to another clinic"


def test_a_vendor_reports_only_its_own_answers_and_ends_only_those(stored_call: Callable[..., StoredCall]) -> None:
    assert answered_as_itself("acme", "answering_service", "acme") is None
    assert answered_as_itself("acme", "answering_service", "other") is not None
    assert answered_as_itself("acme", "receptionist", "acme") is not None
    mine = stored_call(vendor_id="acme", answered_by_kind="answering_service", answered_by_id="acme")
    assert answered_by("acme", mine, "c1") is None
    assert (
        answered_by(
            "acme", stored_call(vendor_id="acme", answered_by_kind="receptionist", answered_by_id="rec-1"), "c1"
        )
        is not None
    )
    assert answered_by("acme", stored_call(vendor_id="acme"), "c1") == "the call was not answered by this vendor"
    assert answered_by("other", mine, "c1") == "the call was not handed to this vendor"


def test_pages_are_reported_by_the_vendor_that_took_the_message() -> None:
    message = {"clinic_id": "c1", "vendor_id": "acme"}
    assert owns_message("acme", message, "c1") is None
    assert owns_message("other", message, "c1") is not None
    assert owns_message("acme", message, "c2") is not None
    assert owns_message("acme", None, "c1") == "the message is unknown to the router"


def test_only_the_kept_outcomes_naming_the_calls_clinic_and_vendor_are_its_own() -> None:
    def kept(event_type: str, clinic_id: str, vendor_id: str = "") -> KeptOutcome:
        return KeptOutcome(event_type, clinic_id, vendor_id, {"clinic_id": clinic_id, "by": vendor_id})

    wrong, own = kept("call.answered", "b"), kept("call.answered", "a")
    for order in ([wrong, own], [own, wrong]):
        assert own_outcomes(order, "a") == ({"call.answered": own.payload}, [wrong])
    acks = [kept("ack", "a", "bolt"), kept("ack", "b", "acme"), kept("ack", "a", "acme")]
    assert own_outcomes(acks, "a", "acme") == ({"ack": acks[2].payload}, acks[:2])
    assert own_outcomes([], "a") == ({}, [])
