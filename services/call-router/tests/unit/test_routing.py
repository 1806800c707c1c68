"""Routing decisions: strategies, skills, skip-when-empty, missed offers, budget exhaustion, closed
hours, urgent calls, vendor failover; and the property: always a live human within the budget."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.call_router.domain import (
    AgentState,
    CallState,
    Decision,
    Offer,
    SisterDesk,
    ToVendor,
    VendorState,
    decide,
    failover_vendor,
    is_open,
    pick_vendor,
)
from frontdesk.call_router.domain.routing import answer_by, handoff_at
from frontdesk.common.contracts import INTENT_SKILLS, ClinicConfig
from frontdesk.common.contracts.clinic import WEEKDAYS

MONDAY_10AM = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
SUNDAY_NIGHT = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Sunday 22:00 in New York
ALL_DAY = {d: ["00:00-23:59"] for d in WEEKDAYS}
WEEKDAYS_9_5 = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def clinic(hours: dict[str, list[str]] | None = None, closures: list[str] | None = None, **phone: Any) -> ClinicConfig:
    doc: dict[str, Any] = {
        "receptionists": [
            {"receptionist_id": "ana", "languages": ["en", "es"], "skills": ["new_patient_booking"]},
            {"receptionist_id": "bo", "languages": ["en"]},
            {"receptionist_id": "cy", "languages": ["en", "fr"], "skills": ["billing"]},
        ],
        "pools": [{"pool_id": "desk", "members": ["ana", "bo", "cy"]}],
        "answering_service": "vend-a",
        "secondary_answering_service": "vend-b",
        # 6 s answer targets: the vendors get the call 12 s into the 18 s budget, after two desk offers
        "vendors": [
            {"vendor_id": "vend-a", "answer_target_seconds": 6},
            {"vendor_id": "vend-b", "answer_target_seconds": 6},
        ],
        "on_call": [{"provider_id": "dr-on-call"}],
    }
    doc.update(phone)
    return ClinicConfig.model_validate(
        {
            "clinic_id": "c1",
            "name": "Clinic",
            "timezone": "America/New_York",
            "hours": WEEKDAYS_9_5 if hours is None else hours,
            "closures": closures or [],
            "phone": doc,
        }
    )


def agents(*specs: tuple[str, str, int], calls: dict[str, int] | None = None) -> dict[str, AgentState]:
    """(id, status, idle seconds before MONDAY_10AM)."""
    return {
        rid: AgentState(rid, status, MONDAY_10AM - timedelta(seconds=idle), (calls or {}).get(rid, 0))
        for rid, status, idle in specs
    }


def call(at: datetime = MONDAY_10AM, **kw: Any) -> CallState:
    return CallState("call-1", "c1", at, **kw)


ALL_AVAILABLE = agents(("ana", "available", 30), ("bo", "available", 300), ("cy", "available", 100))


def offered_to(d: Decision) -> tuple[str, ...]:
    assert isinstance(d.route, Offer), d
    return d.route.receptionists


# --- strategies ---------------------------------------------------------------------------------


def test_longest_idle_offers_the_receptionist_idle_longest() -> None:
    d = decide(clinic(), call(), ALL_AVAILABLE, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id, d.reason) == ("receptionist", "bo", "longest_idle")
    assert offered_to(d) == ("bo",)
    assert d.answer_by == MONDAY_10AM + timedelta(seconds=18)
    assert d.attempt == 1


def test_fewest_calls_offers_the_receptionist_with_fewest_calls() -> None:
    c = clinic(pools=[{"pool_id": "desk", "members": ["ana", "bo", "cy"], "strategy": "fewest_calls"}])
    a = agents(("ana", "available", 30), ("bo", "available", 300), ("cy", "available", 100), calls={"bo": 9, "ana": 2})
    assert decide(c, call(), a, {}, MONDAY_10AM).target_id == "cy"


@pytest.mark.parametrize(("cursor", "expected"), [(None, "ana"), ("ana", "bo"), ("bo", "cy"), ("cy", "ana")])
def test_round_robin_continues_after_the_last_offered_member(cursor: str | None, expected: str) -> None:
    c = clinic(pools=[{"pool_id": "desk", "members": ["ana", "bo", "cy"], "strategy": "round_robin"}])
    cursors = {"desk": cursor} if cursor else {}
    assert decide(c, call(), ALL_AVAILABLE, {}, MONDAY_10AM, cursors).target_id == expected


def test_round_robin_skips_unavailable_members() -> None:
    c = clinic(pools=[{"pool_id": "desk", "members": ["ana", "bo", "cy"], "strategy": "round_robin"}])
    a = agents(("ana", "available", 1), ("bo", "busy", 1), ("cy", "available", 1))
    assert decide(c, call(), a, {}, MONDAY_10AM, {"desk": "ana"}).target_id == "cy"


def test_ring_all_offers_every_available_member_at_once() -> None:
    c = clinic(pools=[{"pool_id": "desk", "members": ["ana", "bo", "cy"], "strategy": "ring_all"}])
    a = agents(("ana", "available", 30), ("bo", "paused", 300), ("cy", "available", 100))
    d = decide(c, call(), a, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id) == ("pool", "desk")
    assert set(offered_to(d)) == {"ana", "cy"}


# --- presence and skills ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["busy", "wrap_up", "paused", "offline"])
def test_only_available_receptionists_get_offers(status: str) -> None:
    a = agents(("ana", status, 30), ("bo", status, 300), ("cy", "available", 1))
    assert decide(clinic(), call(), a, {}, MONDAY_10AM).target_id == "cy"


def test_a_receptionist_ringing_for_another_call_is_not_offered_a_second() -> None:
    a = dict(ALL_AVAILABLE)
    a["bo"] = AgentState("bo", "available", MONDAY_10AM - timedelta(seconds=300), ringing=True)
    assert decide(clinic(), call(), a, {}, MONDAY_10AM).target_id == "cy"


def test_new_patients_go_to_receptionists_who_can_book_them() -> None:
    assert decide(clinic(), call(intent="new_patient"), ALL_AVAILABLE, {}, MONDAY_10AM).target_id == "ana"


@pytest.mark.parametrize(("language", "expected"), [("es", "ana"), ("es-MX", "ana"), ("fr", "cy"), ("en-US", "bo")])
def test_the_callers_language_must_be_spoken(language: str, expected: str) -> None:
    assert decide(clinic(), call(language=language), ALL_AVAILABLE, {}, MONDAY_10AM).target_id == expected


def test_nobody_speaks_the_language_skips_to_the_vendor_at_once() -> None:
    d = decide(clinic(), call(language="de"), ALL_AVAILABLE, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id, d.reason) == ("answering_service", "vend-a", "no_receptionist_available")


def test_a_pool_restricted_to_intents_is_skipped_for_other_intents() -> None:
    c = clinic(
        pools=[
            {"pool_id": "billing", "members": ["cy"], "intents": ["billing"]},
            {"pool_id": "desk", "members": ["ana", "bo"]},
        ]
    )
    assert decide(c, call(intent="billing"), ALL_AVAILABLE, {}, MONDAY_10AM).target_id == "cy"
    assert decide(c, call(intent="appointment"), ALL_AVAILABLE, {}, MONDAY_10AM).target_id == "bo"


def test_an_empty_desk_skips_to_the_sister_clinic_then_the_vendor() -> None:
    c = clinic(sister_pools=[{"clinic_id": "c2", "pool_id": "c2-desk"}])
    nobody = agents(("ana", "offline", 1), ("bo", "paused", 1))
    d = decide(c, call(), nobody, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id) == ("sister_clinic", "c2")
    assert isinstance(d.route, Offer) and d.route.pool_id == "c2-desk"
    d2 = decide(c, call(attempt=1, tried=frozenset({"sister:c2"})), nobody, {}, MONDAY_10AM + timedelta(seconds=6))
    assert (d2.target_kind, d2.target_id, d2.reason) == ("answering_service", "vend-a", "overflow")


def sister_desk(pool: dict[str, Any], presence: dict[str, AgentState], clinic_id: str = "c2") -> SisterDesk:
    """A sister clinic this router also serves: its configuration and its receptionists' presence."""
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Sister",
            "timezone": "America/New_York",
            "hours": WEEKDAYS_9_5,
            "phone": {
                "receptionists": [{"receptionist_id": r, "languages": ["en"]} for r in ("dee", "eli")],
                "pools": [pool],
                "answering_service": "vend-a",
            },
        }
    )
    return SisterDesk(config, presence)


SISTER = {"sister_pools": [{"clinic_id": "c2", "pool_id": "c2-desk"}]}
NOBODY_HERE = agents(("ana", "offline", 1), ("bo", "paused", 1))


def test_a_sister_desk_whose_receptionists_are_all_unavailable_is_skipped_at_once() -> None:
    desk = sister_desk(
        {"pool_id": "c2-desk", "members": ["dee", "eli"]}, agents(("dee", "busy", 1), ("eli", "paused", 1))
    )
    d = decide(clinic(**SISTER), call(), NOBODY_HERE, {}, MONDAY_10AM, sister_desks={"c2": desk})
    assert (d.target_kind, d.target_id, d.reason) == ("answering_service", "vend-a", "no_receptionist_available")


def test_a_sister_desk_ringing_for_another_call_or_lacking_the_skill_is_skipped() -> None:
    ringing = {"dee": AgentState("dee", "available", MONDAY_10AM, ringing=True)}
    desk = sister_desk({"pool_id": "c2-desk", "members": ["dee"]}, ringing)
    assert decide(clinic(**SISTER), call(), NOBODY_HERE, {}, MONDAY_10AM, sister_desks={"c2": desk}).target_kind == (
        "answering_service"
    )
    spanish_only = sister_desk({"pool_id": "c2-desk", "members": ["dee"]}, agents(("dee", "available", 1)))
    d = decide(clinic(**SISTER), call(language="es"), NOBODY_HERE, {}, MONDAY_10AM, sister_desks={"c2": spanish_only})
    assert d.target_kind == "answering_service"  # dee speaks English only
    appointments_only = sister_desk(
        {"pool_id": "c2-desk", "members": ["dee"], "intents": ["appointment"]}, agents(("dee", "available", 1))
    )
    d = decide(
        clinic(**SISTER), call(intent="other"), NOBODY_HERE, {}, MONDAY_10AM, sister_desks={"c2": appointments_only}
    )
    assert d.target_kind == "answering_service"


def test_a_sister_desk_with_someone_available_is_offered() -> None:
    desk = sister_desk(
        {"pool_id": "c2-desk", "members": ["dee", "eli"]}, agents(("dee", "busy", 1), ("eli", "available", 9))
    )
    d = decide(clinic(**SISTER), call(), NOBODY_HERE, {}, MONDAY_10AM, sister_desks={"c2": desk})
    assert (d.target_kind, d.target_id) == ("sister_clinic", "c2")
    assert isinstance(d.route, Offer) and d.route.receptionists == ()  # the sister's desk rings as a whole


def test_a_sister_hunt_group_or_unknown_presence_still_rings_as_a_whole() -> None:
    hunt_group = sister_desk({"pool_id": "c2-desk"}, {})
    unseen = sister_desk({"pool_id": "c2-desk", "members": ["dee", "eli"]}, {})  # no presence ever seen
    other_pool = sister_desk({"pool_id": "elsewhere", "members": ["dee"]}, agents(("dee", "offline", 1)))
    for desks in ({}, {"c2": hunt_group}, {"c2": unseen}, {"c2": other_pool}):
        d = decide(clinic(**SISTER), call(), NOBODY_HERE, {}, MONDAY_10AM, sister_desks=desks)
        assert (d.target_kind, d.target_id) == ("sister_clinic", "c2"), desks


# --- missed offers and the budget ---------------------------------------------------------------


def test_a_missed_offer_moves_to_the_next_candidate_then_the_vendor_before_the_budget_ends() -> None:
    c = clinic()  # 18 s budget, 6 s offers, vendors needing 6 s: hand-off at 12 s, two offers fit
    first = decide(c, call(), ALL_AVAILABLE, {}, MONDAY_10AM)
    assert first.target_id == "bo"
    second = decide(c, call(attempt=1, tried=frozenset({"bo"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=6))
    assert (second.target_id, second.attempt) == ("cy", 2)
    third = decide(
        c, call(attempt=2, tried=frozenset({"bo", "cy"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=12)
    )
    assert (third.target_kind, third.target_id, third.attempt) == ("answering_service", "vend-a", 3)


def test_an_offer_rings_only_until_the_hand_off_and_is_not_made_when_too_little_is_left() -> None:
    # 1 s late: the 6 s offer would end at 13 s, after the 12 s hand-off point: it rings 5 s.
    d = decide(
        clinic(), call(attempt=1, tried=frozenset({"bo"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=7)
    )
    assert isinstance(d.route, Offer) and d.route.ring_timeout_seconds == 5
    # 2.5 s left: less than half the offer's 6 s, not worth ringing
    d = decide(
        clinic(), call(attempt=1, tried=frozenset({"bo"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=9.5)
    )
    assert d.target_kind == "answering_service"


def test_a_call_processed_after_its_budget_goes_to_the_vendor() -> None:
    d = decide(clinic(), call(), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(minutes=5))
    assert d.target_kind == "answering_service"
    assert d.answer_by == MONDAY_10AM + timedelta(seconds=18)


def test_a_hunt_group_pool_is_offered_once_as_a_whole() -> None:
    legacy = ClinicConfig.model_validate(
        {
            "clinic_id": "c",
            "name": "C",
            "timezone": "UTC",
            "hours": ALL_DAY,
            "phone": {"front_desk_pool": "desk", "answering_service": "as"},
        }
    )
    d = decide(legacy, call(), {}, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id, d.reason) == ("pool", "desk", "open_hours")
    assert isinstance(d.route, Offer) and d.route.tried_keys == ("pool:desk",)
    d2 = decide(legacy, call(attempt=1, tried=frozenset({"pool:desk"})), {}, {}, MONDAY_10AM + timedelta(seconds=6))
    assert (d2.target_kind, d2.target_id) == ("answering_service", "as")


# --- closed, urgent -----------------------------------------------------------------------------


def test_closed_hours_go_to_the_vendor_at_once() -> None:
    d = decide(clinic(), call(SUNDAY_NIGHT), ALL_AVAILABLE, {}, SUNDAY_NIGHT)
    assert (d.target_kind, d.target_id, d.reason, d.attempt) == ("answering_service", "vend-a", "after_hours", 1)


def test_a_closure_day_goes_to_the_vendor_with_its_reason() -> None:
    d = decide(clinic(closures=["2026-11-30"]), call(), ALL_AVAILABLE, {}, MONDAY_10AM)
    assert (d.target_kind, d.reason) == ("answering_service", "closure")


def test_dst_fall_back_monday_morning_is_judged_in_local_time() -> None:
    # 2026-11-02 13:30 UTC = 08:30 EST (09:30 if EDT were wrongly assumed): closed at a 09:00 opening.
    at = datetime(2026, 11, 2, 13, 30, tzinfo=UTC)
    assert decide(clinic(), call(at), ALL_AVAILABLE, {}, at).reason == "after_hours"
    at = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)  # 09:30 EST: open
    assert decide(clinic(), call(at), ALL_AVAILABLE, {}, at).target_kind == "receptionist"


def test_urgent_calls_go_to_the_vendor_at_once_and_page_the_on_call_provider() -> None:
    d = decide(clinic(), call(intent="urgent"), ALL_AVAILABLE, {}, MONDAY_10AM)
    assert (d.target_kind, d.target_id, d.reason, d.page_on_call) == (
        "answering_service",
        "vend-a",
        "urgent",
        "dr-on-call",
    )


# --- vendors ------------------------------------------------------------------------------------


def test_an_unhealthy_primary_vendor_is_replaced_by_the_secondary() -> None:
    c = clinic()
    failed = {"vend-a": VendorState("vend-a", failed_until=SUNDAY_NIGHT + timedelta(minutes=1))}
    assert decide(c, call(SUNDAY_NIGHT), {}, failed, SUNDAY_NIGHT).target_id == "vend-b"
    stale = {"vend-a": VendorState("vend-a", last_heartbeat_at=SUNDAY_NIGHT - timedelta(seconds=61))}
    assert decide(c, call(SUNDAY_NIGHT), {}, stale, SUNDAY_NIGHT).target_id == "vend-b"
    fresh = {"vend-a": VendorState("vend-a", last_heartbeat_at=SUNDAY_NIGHT - timedelta(seconds=59))}
    assert decide(c, call(SUNDAY_NIGHT), {}, fresh, SUNDAY_NIGHT).target_id == "vend-a"
    recovered = {"vend-a": VendorState("vend-a", failed_until=SUNDAY_NIGHT - timedelta(seconds=1))}
    assert decide(c, call(SUNDAY_NIGHT), {}, recovered, SUNDAY_NIGHT).target_id == "vend-a"


def test_when_every_vendor_is_unhealthy_the_primary_still_gets_the_call() -> None:
    down = {v: VendorState(v, failed_until=SUNDAY_NIGHT + timedelta(hours=1)) for v in ("vend-a", "vend-b")}
    assert pick_vendor(clinic().phone, down, SUNDAY_NIGHT) == "vend-a"


def test_failover_goes_to_the_other_vendor_or_nowhere() -> None:
    phone = clinic().phone
    assert failover_vendor(phone, "vend-a", {}, SUNDAY_NIGHT) == "vend-b"
    assert failover_vendor(phone, "vend-b", {}, SUNDAY_NIGHT) == "vend-a"
    single = clinic(secondary_answering_service=None, vendors=[{"vendor_id": "vend-a"}]).phone
    assert failover_vendor(single, "vend-a", {}, SUNDAY_NIGHT) is None


def test_the_secondary_is_offered_too_at_the_latest_moment_it_can_still_answer_in_time() -> None:
    # primary 12 s, secondary 6 s: an after-hours call goes to the primary at once, and the
    # secondary is offered it too 12 s in (18 - 6) unless someone answered
    c = clinic(
        vendors=[
            {"vendor_id": "vend-a", "answer_target_seconds": 12},
            {"vendor_id": "vend-b", "answer_target_seconds": 6},
        ]
    )
    d = decide(c, call(SUNDAY_NIGHT), {}, {}, SUNDAY_NIGHT)
    assert d.route == ToVendor("vend-a", "after_hours", "vend-b", SUNDAY_NIGHT + timedelta(seconds=12))
    # open: the hand-off point follows from the longer target (12 s), so one 6 s desk offer fits
    assert handoff_at(c.phone, MONDAY_10AM) == MONDAY_10AM + timedelta(seconds=6)
    missed = decide(c, call(attempt=1, tried=frozenset({"bo"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=6))
    assert missed.route == ToVendor("vend-a", "overflow", "vend-b", MONDAY_10AM + timedelta(seconds=12))


def test_with_equal_targets_both_vendors_are_offered_the_call_at_the_hand_off() -> None:
    c = clinic()  # both vendors need 6 s: the hand-off point (12 s) is the secondary's latest moment too
    d = decide(
        c, call(attempt=2, tried=frozenset({"bo", "cy"})), ALL_AVAILABLE, {}, MONDAY_10AM + timedelta(seconds=12)
    )
    assert d.route == ToVendor("vend-a", "overflow", "vend-b", MONDAY_10AM + timedelta(seconds=12))
    # a call the router sees after the budget: both at once
    late = MONDAY_10AM + timedelta(minutes=5)
    assert decide(c, call(), ALL_AVAILABLE, {}, late).route == ToVendor(
        "vend-a", "no_receptionist_available", "vend-b", late
    )


def test_a_vendor_that_missed_a_target_lately_is_still_offered_the_call_as_a_hedge() -> None:
    # vend-a missed its target for some clinic a minute ago (silent there only, perhaps): vend-b
    # takes the calls first, and vend-a is offered them too at the latest moment it can answer, in
    # case vend-b is the silent one for this call
    c = clinic()
    missed = {"vend-a": VendorState("vend-a", failed_until=SUNDAY_NIGHT + timedelta(minutes=4))}
    d = decide(c, call(SUNDAY_NIGHT), {}, missed, SUNDAY_NIGHT)
    assert d.route == ToVendor("vend-b", "after_hours", "vend-a", SUNDAY_NIGHT + timedelta(seconds=12))


def test_a_vendor_whose_heartbeats_stopped_is_not_offered_the_call_as_a_hedge() -> None:
    c = clinic()
    stale = {"vend-b": VendorState("vend-b", last_heartbeat_at=SUNDAY_NIGHT - timedelta(seconds=61))}
    assert decide(c, call(SUNDAY_NIGHT), {}, stale, SUNDAY_NIGHT).route == ToVendor("vend-a", "after_hours")
    # the primary stopped its heartbeats: the secondary gets the call at once, and no hedge to the primary
    stale = {"vend-a": VendorState("vend-a", last_heartbeat_at=SUNDAY_NIGHT - timedelta(seconds=61))}
    assert decide(c, call(SUNDAY_NIGHT), {}, stale, SUNDAY_NIGHT).route == ToVendor("vend-b", "after_hours")
    # both unhealthy: the primary, and the secondary too (a slow human beats none)
    down = {v: VendorState(v, failed_until=SUNDAY_NIGHT + timedelta(minutes=1)) for v in ("vend-a", "vend-b")}
    assert decide(c, call(SUNDAY_NIGHT), {}, down, SUNDAY_NIGHT).route.hedge == "vend-b"  # type: ignore[union-attr]


def test_a_vendor_that_already_had_the_call_is_not_offered_it_again() -> None:
    c = clinic()
    d = decide(c, call(SUNDAY_NIGHT, attempt=1, tried=frozenset({"vend-b", "vendor:vend-b"})), {}, {}, SUNDAY_NIGHT)
    assert d.route == ToVendor("vend-a", "after_hours")


# --- skills -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "skill"),
    [
        ("new_patient", "new_patient_booking"),
        ("prescription", "prescriptions"),
        ("billing", "billing"),
        ("results", "results"),
    ],
)
def test_a_call_goes_only_to_receptionists_with_the_skill_its_intent_needs(intent: str, skill: str) -> None:
    assert INTENT_SKILLS[intent] == skill
    c = clinic(
        receptionists=[{"receptionist_id": "ana", "skills": [skill]}, {"receptionist_id": "bo"}],
        pools=[{"pool_id": "desk", "members": ["ana", "bo"]}],
    )
    a = agents(("ana", "available", 1), ("bo", "available", 300))  # bo idle longer, but unskilled
    assert decide(c, call(intent=intent), a, {}, MONDAY_10AM).target_id == "ana"
    assert decide(c, call(intent="appointment"), a, {}, MONDAY_10AM).target_id == "bo"
    nobody_skilled = agents(("bo", "available", 300))
    assert decide(c, call(intent=intent), nobody_skilled, {}, MONDAY_10AM).target_kind == "answering_service"


@pytest.mark.parametrize("intent", ["appointment", "urgent", "other"])
def test_intents_that_need_no_skill_go_to_anyone(intent: str) -> None:
    assert INTENT_SKILLS[intent] is None


def test_a_ring_all_pool_rings_only_its_skilled_members() -> None:
    c = clinic(pools=[{"pool_id": "desk", "members": ["ana", "bo", "cy"], "strategy": "ring_all"}])
    assert offered_to(decide(c, call(intent="billing"), ALL_AVAILABLE, {}, MONDAY_10AM)) == ("cy",)


# --- configuration validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "messages"),
    [
        # the default 12 s vendor in a 15 s budget leaves 3 s for a 6 s desk offer
        ({"ring_seconds": 5, "vendors": []}, ["clinic c1:", "chain step 1 (pool desk)", "6 s offer", "3 s missing"]),
        (
            {"vendors": [{"vendor_id": "vend-a", "answer_target_seconds": 20}, {"vendor_id": "vend-b"}]},
            ["clinic c1:", "vendor vend-a needs 20 s to answer but the ring budget is 18 s: 2 s missing"],
        ),
        (
            {"vendor_handoff_seconds": 4},
            ["vendor_handoff_seconds 4 leaves vendor vend-a 4 s of the 6 s it needs to answer: 2 s missing"],
        ),
        ({"vendor_handoff_seconds": 19}, ["vendor_handoff_seconds 19 is longer than the ring budget 18 s"]),
        (
            {"sister_pools": [{"clinic_id": "c2", "pool_id": "d", "offer_timeout_seconds": 13}]},
            ["chain step 2 (sister_clinic c2): its 13 s offer", "1 s missing"],
        ),
        (
            {
                "chain": [{"kind": "pool", "target": "desk"}, {"kind": "answering_service", "target": "vend-c"}],
                "vendors": [
                    {"vendor_id": "vend-a"},
                    {"vendor_id": "vend-b"},
                    {"vendor_id": "vend-c", "answer_target_seconds": 19},
                ],
            },
            ["vendor vend-c needs 19 s"],
        ),
    ],
)
def test_a_chain_that_cannot_fit_its_budget_is_refused_naming_the_clinic_step_and_seconds(
    changes: dict[str, Any], messages: list[str]
) -> None:
    with pytest.raises(ValueError) as refused:
        clinic(**changes)
    for message in messages:
        assert message in str(refused.value)


def test_legacy_and_default_configurations_fit_the_default_budget() -> None:
    legacy = ClinicConfig.model_validate(
        {"clinic_id": "c", "name": "C", "timezone": "UTC", "phone": {"answering_service": "as"}}
    )
    assert legacy.phone.handoff_lead_seconds == 12  # the default vendor's target: one 6 s desk offer fits
    assert handoff_at(legacy.phone, MONDAY_10AM) == MONDAY_10AM + timedelta(seconds=6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "receptionists": [{"receptionist_id": "ana", "skills": ["results"]}],
                "pools": [{"pool_id": "desk", "members": ["ana"], "intents": ["billing"]}],
            },
            "receptionist ana: skill 'results' is never used: no pool of the chain offers them results calls",
        ),
        (
            {
                "receptionists": [{"receptionist_id": "ana", "skills": ["billing"]}, {"receptionist_id": "bo"}],
                "pools": [{"pool_id": "desk", "members": ["bo"]}],
            },
            "receptionist ana: skill 'billing' is never used",
        ),
        (
            {
                "receptionists": [{"receptionist_id": "bo"}],
                "pools": [{"pool_id": "desk", "members": ["bo"], "intents": ["prescription", "other"]}],
            },
            "pool desk: takes 'prescription' calls, which need skill 'prescriptions', but none of its members has it",
        ),
        ({"receptionists": [{"receptionist_id": "bo", "skills": ["typing"]}]}, "skills"),
    ],
)
def test_a_skill_no_route_can_use_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clinic(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"answering_service": "ghost"}, "vendor 'ghost' is not in vendors"),
        ({"secondary_answering_service": "ghost"}, "vendor 'ghost' is not in vendors"),
        ({"secondary_answering_service": "vend-a"}, "must differ"),
        ({"pools": [{"pool_id": "desk", "members": ["zed"]}]}, "not in receptionists"),
        ({"chain": [{"kind": "pool", "target": "desk"}]}, "last step must be a live 24/7 human"),
        ({"chain": []}, "must not be empty"),
        ({"chain": [{"kind": "pool", "target": "nope"}, {"kind": "answering_service", "target": "vend-a"}]}, "nope"),
        ({"chain": [{"kind": "answering_service", "target": "ghost"}]}, "vendor 'ghost' does not exist"),
        ({"chain": [{"kind": "voicemail", "target": "box"}]}, "kind"),
        ({"vendors": [{"vendor_id": "vend-a"}, {"vendor_id": "vend-a"}]}, "more than once"),
    ],
)
def test_invalid_phone_configurations_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clinic(**changes)


def test_an_explicit_chain_is_followed() -> None:
    c = clinic(
        sister_pools=[{"clinic_id": "c2", "pool_id": "c2-desk"}],
        chain=[
            {"kind": "sister_clinic", "target": "c2"},
            {"kind": "pool", "target": "desk"},
            {"kind": "answering_service", "target": "vend-b"},
        ],
    )
    assert decide(c, call(), ALL_AVAILABLE, {}, MONDAY_10AM).target_kind == "sister_clinic"
    nobody: dict[str, AgentState] = {}
    assert decide(c, call(attempt=1, tried=frozenset({"sister:c2"})), nobody, {}, MONDAY_10AM).target_id == "vend-b"


# --- property: never voicemail, always a live human within the budget --------------------------

ids = st.sampled_from(["r1", "r2", "r3", "r4", "r5"])
statuses = st.sampled_from(["available", "busy", "wrap_up", "paused", "offline"])


SKILLS = ["new_patient_booking", "billing", "prescriptions", "results"]
INTENTS = list(INTENT_SKILLS)


def _drop_unusable_skills(phone: dict[str, Any]) -> None:
    """Keep only skills some pool of the chain can use, and pool intents some member can serve (what
    validation demands), so that random configurations are valid ones."""
    pools = phone["pools"] or []

    def intents(pool: dict[str, Any]) -> list[str]:
        return pool["intents"] or INTENTS

    skills = {r["receptionist_id"]: set(r["skills"]) for r in phone["receptionists"]}
    for p in pools:
        if p["members"]:
            p["intents"] = [
                i
                for i in p["intents"]
                if INTENT_SKILLS[i] is None or any(INTENT_SKILLS[i] in skills[m] for m in p["members"])
            ] or ["other"]
    for r in phone["receptionists"]:
        r["skills"] = [
            skill
            for skill in r["skills"]
            if any(
                r["receptionist_id"] in p["members"] and skill in {INTENT_SKILLS[i] for i in intents(p)} for p in pools
            )
        ]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ClinicConfig, CallState, dict[str, AgentState], dict[str, VendorState]]:
    """A random clinic whose configuration validates: its budget covers every vendor's answer target
    and each desk offer before the hand-off, its skills are usable."""
    ring_seconds = draw(st.floats(min_value=0.5, max_value=30))
    rings = draw(st.integers(1, 10))
    budget = ring_seconds * rings
    vendors = draw(st.lists(st.sampled_from(["va", "vb", "vc"]), min_size=1, max_size=3, unique=True))
    targets = {v: min(120.0, budget * draw(st.floats(0.05, 0.9))) for v in vendors}
    used = vendors[:2]
    lead = max(targets[v] for v in used)
    handoff = draw(st.none() | st.floats(0, 1).map(lambda f: lead + f * (0.95 * budget - lead)))
    window = budget - (handoff if handoff is not None else lead)
    offers = st.floats(0.05, 1).map(lambda f: min(60.0, f * window))
    members = draw(st.lists(ids, unique=True, max_size=5))
    receptionists = [
        {
            "receptionist_id": r,
            "languages": draw(st.lists(st.sampled_from(["en", "es", "fr", "zh"]), min_size=1, max_size=3)),
            "skills": draw(st.lists(st.sampled_from(SKILLS), max_size=2, unique=True)),
        }
        for r in members
    ]
    pools = [
        {
            "pool_id": f"p{i}",
            "members": draw(st.lists(st.sampled_from(members), unique=True)) if members else [],
            "strategy": draw(st.sampled_from(["longest_idle", "ring_all", "round_robin", "fewest_calls"])),
            "offer_timeout_seconds": draw(offers),
            "intents": draw(st.lists(st.sampled_from(INTENTS), max_size=2, unique=True)),
        }
        for i in range(draw(st.integers(1, 3)))
    ]
    sisters = [
        {"clinic_id": f"s{i}", "pool_id": "desk", "offer_timeout_seconds": draw(offers)}
        for i in range(draw(st.integers(0, 2)))
    ]
    phone = {
        "ring_seconds": ring_seconds,
        "rings": rings,
        "receptionists": receptionists,
        "pools": pools,
        "sister_pools": sisters,
        "vendors": [{"vendor_id": v, "answer_target_seconds": targets[v]} for v in vendors],
        "answering_service": vendors[0],
        "secondary_answering_service": vendors[1] if len(vendors) > 1 else None,
        "vendor_handoff_seconds": handoff,
        "on_call": draw(
            st.lists(st.builds(lambda p: {"provider_id": p}, st.sampled_from(["dr-a", "dr-b"])), max_size=2)
        ),
    }
    _drop_unusable_skills(phone)
    config = ClinicConfig.model_validate(
        {
            "clinic_id": "c",
            "name": "Any",
            "timezone": draw(st.sampled_from(sorted(available_timezones()))),
            "hours": draw(st.sampled_from([ALL_DAY, WEEKDAYS_9_5, {}])),
            "closures": draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=3)),
            "phone": phone,
        }
    )
    received = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)))
    the_call = CallState(
        "call",
        "c",
        received,
        intent=draw(st.sampled_from(INTENTS)),
        language=draw(st.none() | st.sampled_from(["en", "es-MX", "fr", "de"])),
    )
    presence = {
        r: AgentState(
            r, draw(statuses), received - timedelta(seconds=draw(st.integers(0, 3600))), draw(st.integers(0, 9))
        )
        for r in draw(st.lists(ids, unique=True))
    }
    vendor_states = {
        v: VendorState(v, failed_until=received + timedelta(minutes=1))
        for v in draw(st.lists(st.sampled_from(vendors)))
    }
    return config, the_call, presence, vendor_states


def _target(config: ClinicConfig, vendor_id: str) -> timedelta:
    return timedelta(seconds=config.phone.vendor(vendor_id).answer_target_seconds)


EPSILON = timedelta(milliseconds=1)  # datetimes keep microseconds: float seconds round


def _missed(state: CallState, d: Decision) -> CallState:
    assert isinstance(d.route, Offer)
    return CallState(
        state.call_id,
        state.clinic_id,
        state.received_at,
        state.intent,
        state.language,
        attempt=d.attempt,
        tried=state.tried | set(d.route.tried_keys),
    )


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios(), answers=st.lists(st.booleans(), max_size=20))
def test_when_the_configuration_validated_every_answer_deadline_falls_within_the_budget(
    scenario: tuple[ClinicConfig, CallState, dict[str, AgentState], dict[str, VendorState]],
    answers: list[bool],
) -> None:
    """The router on time, every offer missed (or answered): each step's answer deadline (an offer
    ringing out, a vendor's answer target from when it gets the call, the other vendor's from when
    it is offered the call too) falls within the ring budget; the chain always ends at a vendor."""
    config, state, presence, vendors = scenario
    end = answer_by(config.phone, state.received_at)
    now = state.received_at
    for step in range(50):
        d = decide(config, state, presence, vendors, now)
        assert d.answer_by == end
        if isinstance(d.route, ToVendor):
            assert now + _target(config, d.route.vendor_id) <= end + EPSILON
            if d.route.hedge is not None:
                assert d.route.hedge_at is not None and d.route.hedge_at >= now
                assert d.route.hedge != d.route.vendor_id
                assert d.route.hedge_at + _target(config, d.route.hedge) <= end + EPSILON
            return
        assert now + timedelta(seconds=d.route.ring_timeout_seconds) <= end + EPSILON
        if answers and answers[min(step, len(answers) - 1)]:
            return
        now += timedelta(seconds=d.route.ring_timeout_seconds)
        state = _missed(state, d)
    pytest.fail("the chain did not end")


@settings(max_examples=300, deadline=None)
@given(scenario=scenarios(), lag=st.floats(min_value=0, max_value=60), answers=st.lists(st.booleans(), max_size=20))
def test_every_call_reaches_a_live_human_within_the_budget_and_never_voicemail(
    scenario: tuple[ClinicConfig, CallState, dict[str, AgentState], dict[str, VendorState]],
    lag: float,
    answers: list[bool],
) -> None:
    """Drive a call through the chain, every offer missed (or answered), with the router `lag`
    seconds late at the start and each timer firing a little late: the call always ends at a live
    human; an offer never rings past the vendor hand-off; the vendor gets it by the hand-off point
    (or at once when the router saw the call only after it)."""
    config, state, presence, vendors = scenario
    live = {"receptionist", "pool", "sister_clinic", "answering_service"}
    now = state.received_at + timedelta(seconds=lag)
    handoff = handoff_at(config.phone, state.received_at)
    for step in range(50):
        d = decide(config, state, presence, vendors, now)
        assert d.target_kind in live
        assert d.answer_by == answer_by(config.phone, state.received_at)
        assert d.attempt == state.attempt + 1
        if isinstance(d.route, ToVendor):
            assert d.route.vendor_id in config.phone.answering_vendors()
            assert now <= max(handoff, state.received_at + timedelta(seconds=lag)) + timedelta(seconds=0.5 * step)
            if state.intent == "urgent" or not is_open(config, state.received_at):
                assert state.attempt == 0  # at once
            return
        offer = d.route
        assert offer.ring_timeout_seconds > 0
        assert now + timedelta(seconds=offer.ring_timeout_seconds) <= handoff
        if offer.receptionists:
            assert all(presence[r].status == "available" for r in offer.receptionists)
            assert not set(offer.receptionists) & state.tried
        if answers and answers[min(step, len(answers) - 1)]:
            return  # a receptionist or pool picked up: a live human
        # missed: the timer fires a little late, the router moves on
        now += timedelta(seconds=offer.ring_timeout_seconds + 0.5)
        state = CallState(
            state.call_id,
            state.clinic_id,
            state.received_at,
            state.intent,
            state.language,
            attempt=d.attempt,
            tried=state.tried | set(offer.tried_keys),
        )
    pytest.fail("the chain did not end")


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios(), lag=st.floats(min_value=0, max_value=30))
def test_whichever_vendor_takes_the_call_the_other_is_offered_it_in_time(
    scenario: tuple[ClinicConfig, CallState, dict[str, AgentState], dict[str, VendorState]], lag: float
) -> None:
    """Whatever the vendors' recent misses (marked failed, heartbeats alive): the vendor that takes
    the call may be the silent one, so the other is offered it too, by the latest moment it can
    still answer within the budget (at once when that moment has passed)."""
    config, state, presence, vendors = scenario
    phone = config.phone
    if phone.secondary_answering_service is None:
        return
    now = state.received_at + timedelta(seconds=lag)
    d = decide(config, replace(state, intent="urgent"), presence, vendors, now)
    assert isinstance(d.route, ToVendor)
    other = ({phone.answering_service, phone.secondary_answering_service} - {d.route.vendor_id}).pop()
    assert d.route.hedge == other and d.route.hedge_at is not None
    assert d.route.hedge_at == max(now, d.answer_by - _target(config, other))


@st.composite
def sister_desks(draw: st.DrawFn, config: ClinicConfig) -> dict[str, SisterDesk]:
    """Desks for some of the clinic's sister clinics, with random members and presence."""
    desks = {}
    for sister in config.phone.sister_pools:
        if not draw(st.booleans()):
            continue  # a sister this router does not serve
        members = draw(st.lists(ids, unique=True, max_size=3))
        pool = {"pool_id": sister.pool_id, "members": members}
        seen = draw(st.lists(st.sampled_from(members), unique=True)) if members else []
        presence = {
            r: AgentState(r, draw(statuses), datetime(2026, 1, 1, tzinfo=UTC), ringing=draw(st.booleans()))
            for r in seen
        }
        desk = ClinicConfig.model_validate(
            {
                "clinic_id": sister.clinic_id,
                "name": "Sister",
                "timezone": "UTC",
                "hours": ALL_DAY,
                "phone": {
                    "receptionists": [{"receptionist_id": r, "languages": ["en", "es", "fr"]} for r in members],
                    "pools": [pool],
                    "answering_service": "va",
                },
            }
        )
        desks[sister.clinic_id] = SisterDesk(desk, presence)
    return desks


@settings(max_examples=150, deadline=None)
@given(data=st.data(), scenario=scenarios())
def test_a_sister_is_rung_only_when_someone_there_may_answer_and_the_call_still_reaches_a_human(
    data: st.DataObject,
    scenario: tuple[ClinicConfig, CallState, dict[str, AgentState], dict[str, VendorState]],
) -> None:
    config, state, presence, vendors = scenario
    desks = data.draw(sister_desks(config))
    now = state.received_at
    for _ in range(50):
        d = decide(config, state, presence, vendors, now, sister_desks=desks)
        assert d.target_kind in {"receptionist", "pool", "sister_clinic", "answering_service"}
        if isinstance(d.route, ToVendor):
            return
        if d.target_kind == "sister_clinic" and (desk := desks.get(d.target_id)) is not None:
            known = [desk.agents[m] for m in desk.clinic.phone.pools[0].members if m in desk.agents]
            assert not known or any(a.status == "available" and not a.ringing for a in known)
        now += timedelta(seconds=d.route.ring_timeout_seconds)
        state = CallState(
            state.call_id,
            state.clinic_id,
            state.received_at,
            state.intent,
            state.language,
            attempt=d.attempt,
            tried=state.tried | set(d.route.tried_keys),
        )
    pytest.fail("the chain did not end")
