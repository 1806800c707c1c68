"""Calls for a clinic the router has no configuration for: the network fallback's vendor at once,
whatever the intent, the time or the caller; a failed vendor is skipped; the fallback as a clinic
fails over to its other vendor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.call_router.domain import (
    CallState,
    ToVendor,
    VendorState,
    decide,
    decide_unknown_clinic,
    failover_vendor,
    fallback_clinic,
    is_open,
)
from frontdesk.common.contracts import NetworkFallback

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
FALLBACK = NetworkFallback(
    answering_service="fb-a",
    secondary_answering_service="fb-b",
    vendors=[{"vendor_id": "fb-a", "answer_target_seconds": 10}, {"vendor_id": "fb-b"}],
)
INTENTS = ["new_patient", "appointment", "prescription", "billing", "results", "urgent", "other"]


@given(
    intent=st.sampled_from(INTENTS),
    lag=st.floats(min_value=0, max_value=600),
    at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
    rings=st.integers(min_value=1, max_value=10),
)
def test_an_unknown_clinic_s_call_goes_to_the_fallback_at_once(
    intent: str, lag: float, at: datetime, rings: int
) -> None:
    fallback = FALLBACK.model_copy(update={"rings": rings})
    call = CallState("call-1", "no-such-clinic", at, intent=intent)
    d = decide_unknown_clinic(fallback, call, {}, at + timedelta(seconds=lag))
    assert isinstance(d.route, ToVendor)
    assert (d.route.vendor_id, d.route.reason, d.route.hedge) == ("fb-a", "unknown_clinic", "fb-b")
    assert d.route.hedge_at is not None and d.route.hedge_at >= at + timedelta(seconds=lag)
    assert (d.target_kind, d.attempt, d.page_on_call) == ("answering_service", 1, None)
    assert d.answer_by == at + timedelta(seconds=6 * rings)


def test_a_failed_or_silent_fallback_vendor_is_skipped() -> None:
    call = CallState("call-1", "no-such-clinic", NOW)
    failed = {"fb-a": VendorState("fb-a", failed_until=NOW + timedelta(minutes=1))}
    assert decide_unknown_clinic(FALLBACK, call, failed, NOW).target_id == "fb-b"
    silent = {"fb-a": VendorState("fb-a", last_heartbeat_at=NOW - timedelta(minutes=5))}
    assert decide_unknown_clinic(FALLBACK, call, silent, NOW).target_id == "fb-b"
    both = {**failed, "fb-b": VendorState("fb-b", failed_until=NOW + timedelta(minutes=1))}
    assert decide_unknown_clinic(FALLBACK, call, both, NOW).target_id == "fb-a"  # a slow human beats none


def test_the_fallback_as_a_clinic_is_never_open_and_fails_over_to_its_other_vendor() -> None:
    clinic = fallback_clinic("no-such-clinic", FALLBACK)
    assert not is_open(clinic, NOW)
    assert clinic.phone.vendor("fb-a").answer_target_seconds == 10
    assert failover_vendor(clinic.phone, "fb-a", {}, NOW) == "fb-b"
    # Routed as a clinic (e.g. a held call), it goes to the fallback's vendor at once as well.
    route = decide(clinic, CallState("call-1", "no-such-clinic", NOW), {}, {}, NOW).route
    assert isinstance(route, ToVendor)
    assert (route.vendor_id, route.reason, route.hedge) == ("fb-a", "after_hours", "fb-b")
