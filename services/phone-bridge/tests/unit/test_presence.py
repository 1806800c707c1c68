"""Presence as the bridge knows it: the latest status wins; a desk phone's registration makes its
receptionist available, its end (Expires 0 or no refresh) offline; only transitions are changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.phone_bridge.domain import presence
from frontdesk.phone_bridge.domain.directory import aor
from frontdesk.phone_bridge.domain.presence import Change, Presence

T0 = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
DESK = ("c1", "r1")


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_registration_makes_the_desk_available_once_and_its_end_offline() -> None:
    registered, changes = presence.register({}, [DESK], 60, T0)
    assert changes == [Change(DESK, "available", T0)] and registered == {DESK: _at(60)}
    registered, changes = presence.register(registered, [DESK], 60, _at(30))  # a refresh
    assert changes == [] and registered == {DESK: _at(90)}
    registered, changes = presence.register(registered, [DESK], 0, _at(40))
    assert changes == [Change(DESK, "offline", _at(40))] and registered == {}
    assert presence.register(registered, [DESK], 0, _at(41))[1] == []  # unregistering twice: no change


def test_a_registration_not_refreshed_expires_offline_at_its_end() -> None:
    registered, _ = presence.register({}, [DESK, ("c2", "r9")], 2, T0)
    registered, _ = presence.register(registered, [("c2", "r9")], 60, _at(1))
    assert presence.expire(registered, _at(1.9)) == (registered, [])
    live, changes = presence.expire(registered, _at(2))
    assert changes == [Change(DESK, "offline", _at(2))] and live == {("c2", "r9"): _at(61)}


def test_an_expired_registration_registering_again_is_available_again() -> None:
    registered, _ = presence.register({}, [DESK], 2, T0)
    assert presence.register(registered, [DESK], 2, _at(3))[1] == [Change(DESK, "available", _at(3))]


def test_a_registration_is_granted_an_hour_at_most() -> None:
    assert presence.register({}, [DESK], 10**9, T0)[0] == {DESK: _at(presence.MAX_REGISTRATION_SECONDS)}


@given(st.lists(st.tuples(st.sampled_from(["available", "paused", "offline"]), st.integers(0, 100)), max_size=12))
def test_the_latest_status_wins_whatever_the_order_they_arrive_in(updates: list[tuple[str, int]]) -> None:
    known: dict[presence.Desk, Presence] = {}
    for status, second in updates:
        known = presence.learn(known, DESK, Presence(status, _at(second)))  # type: ignore[arg-type]
    if updates:
        latest = max(second for _, second in updates)
        assert known[DESK].changed_at == _at(latest)
        assert known[DESK].status in {s for s, t in updates if t == latest}


def test_available_desks_are_the_clinics_longest_idle_first_and_not_on_a_call() -> None:
    known = {
        ("c1", "r1"): Presence("available", _at(5)),
        ("c1", "r2"): Presence("available", _at(1)),
        ("c1", "r3"): Presence("paused", _at(0)),
        ("c1", "r4"): Presence("available", _at(0)),
        ("c2", "r5"): Presence("available", _at(0)),
    }
    assert presence.available(known, "c1", on_call=["r4"]) == ["r2", "r1"]


def test_a_desks_address_of_record_is_user_at_host_without_port_or_parameters() -> None:
    assert aor("sip:desk-1@PBX.example.org:5062;transport=udp") == "desk-1@pbx.example.org"
    assert aor("sips:+15550100@10.0.0.1") == "+15550100@10.0.0.1"
    assert aor("sip:pbx.example.org") is None
