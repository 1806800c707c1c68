"""Routing decisions: pure functions of a clinic's configuration, the call, presence and the time.

The ring budget (ring_seconds x rings, 18 s by default) runs from the call's arrival. Within it:
- urgent intent: the answering service at once, and the on-call provider is paged;
- closed (hours, closures, judged in the clinic's zone, so DST is handled by zoneinfo): the
  answering service at once;
- open: the chain's steps in order (pools, sister clinics, the vendor). A step nobody can take now
  is skipped at once; a missed offer moves to the next candidate; an offer rings only until the
  vendor hand-off point (budget end - the vendors' answer target), so the vendor always gets the
  call in time to answer inside the budget.
- a vendor that holds the call and has not answered by the latest moment the other vendor could
  still answer in time: the other is offered the call too (hedging; the first answer wins).
Every decision names a live human; the last resort is always an answering service.
A call for a clinic the router has no configuration for goes to the network fallback's vendor at once
(`decide_unknown_clinic`, reason `unknown_clinic`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.clinic import WEEKDAYS
from frontdesk.common.contracts.phone import (
    INTENT_SKILLS,
    NetworkFallback,
    PhoneSection,
    Pool,
    Receptionist,
    SisterPool,
)

VENDOR_COOLDOWN = timedelta(minutes=5)  # a vendor that missed its answer target is skipped this long
# An offer that would ring past the hand-off point rings only until it; it is made only if it can
# still ring for this share of its configured timeout (a router a little late still rings the desk).
MIN_OFFER_SHARE = 0.5
UNKNOWN_CLINIC = "unknown_clinic"


@dataclass(frozen=True)
class AgentState:
    receptionist_id: str
    status: str  # available | busy | wrap_up | paused | offline
    idle_since: datetime
    calls_taken: int = 0
    ringing: bool = False  # holds an offer for another call right now


@dataclass(frozen=True)
class VendorState:
    vendor_id: str
    last_heartbeat_at: datetime | None = None
    failed_until: datetime | None = None


@dataclass(frozen=True)
class SisterDesk:
    """What this router knows of a sister clinic's front desk: its configuration and its receptionists'
    presence (the router serves the sister clinic too)."""

    clinic: ClinicConfig
    agents: Mapping[str, AgentState]


@dataclass(frozen=True)
class CallState:
    call_id: str
    clinic_id: str
    received_at: datetime
    intent: str = "other"
    language: str | None = None
    attempt: int = 0  # routes made so far
    tried: frozenset[str] = field(default_factory=frozenset)  # receptionist ids, "pool:x", "sister:x"


@dataclass(frozen=True)
class Offer:
    target_kind: str  # receptionist | pool | sister_clinic
    target_id: str
    pool_id: str | None
    receptionists: tuple[str, ...]  # who rings (empty for a hunt group or a sister clinic)
    ring_timeout_seconds: float
    reason: str
    tried_keys: tuple[str, ...]  # what joins CallState.tried once this offer is missed


@dataclass(frozen=True)
class ToVendor:
    vendor_id: str
    reason: str
    hedge: str | None = None  # the other vendor, offered the call too if nobody answered by hedge_at
    hedge_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    route: Offer | ToVendor
    answer_by: datetime
    attempt: int
    page_on_call: str | None = None  # provider to page (urgent calls)

    @property
    def target_kind(self) -> str:
        return "answering_service" if isinstance(self.route, ToVendor) else self.route.target_kind

    @property
    def target_id(self) -> str:
        return self.route.vendor_id if isinstance(self.route, ToVendor) else self.route.target_id

    @property
    def reason(self) -> str:
        return self.route.reason


def is_open(clinic: ClinicConfig, at: datetime) -> bool:
    """Whether the clinic is open at the instant `at`, judged in the clinic's own time zone."""
    local = at.astimezone(clinic.zone)
    if local.date() in clinic.closures:
        return False
    local_time = local.time().replace(tzinfo=None)
    return any(i.covers(local_time) for i in clinic.hours.get(WEEKDAYS[local.weekday()], []))


def answer_by(phone: PhoneSection, received_at: datetime) -> datetime:
    # Elapsed time, so add in UTC: arithmetic on a datetime in a ZoneInfo zone is wall-clock
    # arithmetic and is an hour off when the ring budget spans a DST change.
    return received_at.astimezone(UTC) + timedelta(seconds=phone.ring_budget_seconds)


def handoff_at(phone: PhoneSection, received_at: datetime) -> datetime:
    """The last moment to hand the call to the vendor so it can still answer inside the budget."""
    return answer_by(phone, received_at) - timedelta(seconds=phone.handoff_lead_seconds)


def latest_offer_to(phone: PhoneSection, vendor_id: str, received_at: datetime) -> datetime:
    """The last moment `vendor_id` can be offered the call and still answer within its target."""
    return answer_by(phone, received_at) - timedelta(seconds=phone.vendor(vendor_id).answer_target_seconds)


def vendor_healthy(phone: PhoneSection, state: VendorState | None, now: datetime) -> bool:
    if state is None:
        return True
    if state.failed_until is not None and state.failed_until > now:
        return False
    return vendor_alive(phone, state, now)


def vendor_alive(phone: PhoneSection, state: VendorState | None, now: datetime) -> bool:
    """Whether the vendor's heartbeats (once any was seen) still come: its operators may answer."""
    if state is None or state.last_heartbeat_at is None:
        return True
    timeout = phone.vendor(state.vendor_id).heartbeat_timeout_seconds
    return (now - state.last_heartbeat_at).total_seconds() <= timeout


def pick_vendor(
    phone: PhoneSection, vendors: Mapping[str, VendorState], now: datetime, preferred: str | None = None
) -> str:
    """The first healthy of preferred, primary, secondary; the preferred/primary if none is healthy
    (a vendor that may be slow still beats no human at all)."""
    order: list[str] = []
    for v in (preferred, phone.answering_service, phone.secondary_answering_service):
        if v is not None and v not in order:
            order.append(v)
    for vendor_id in order:
        if vendor_healthy(phone, vendors.get(vendor_id), now):
            return vendor_id
    return order[0]


def hedge_vendor(
    phone: PhoneSection, holder: str, tried: frozenset[str], vendors: Mapping[str, VendorState], now: datetime
) -> str | None:
    """The other vendor to offer the call too, should `holder` not answer in time: the other of primary
    and secondary, if it has not had the call; skipped when its heartbeats stopped and `holder`'s did
    not (nobody there to answer). One that merely missed a target lately is still offered the call:
    it may have been silent for one clinic only, and without it a silent holder would leave the
    caller ringing to the end of the budget before the failover."""
    others = [v for v in (phone.answering_service, phone.secondary_answering_service) if v and v != holder]
    if not others or f"vendor:{others[0]}" in tried:
        return None
    other = others[0]
    if not vendor_alive(phone, vendors.get(other), now) and vendor_alive(phone, vendors.get(holder), now):
        return None
    return other


def failover_vendor(phone: PhoneSection, current: str, vendors: Mapping[str, VendorState], now: datetime) -> str | None:
    """Another vendor to try when `current` did not answer in its target; None if there is none."""
    others = [v for v in (phone.answering_service, phone.secondary_answering_service) if v and v != current]
    if not others:
        return None
    healthy = [v for v in others if vendor_healthy(phone, vendors.get(v), now)]
    return (healthy or others)[0]


def _language_ok(receptionist: Receptionist, language: str | None) -> bool:
    if language is None:
        return True
    primary = language.split("-")[0]
    return any(lang.split("-")[0] == primary for lang in receptionist.languages)


def matches_skills(receptionist: Receptionist, intent: str, language: str | None) -> bool:
    """Whether the receptionist has the skill the call's intent needs (INTENT_SKILLS) and speaks the
    caller's language."""
    skill = INTENT_SKILLS.get(intent)
    if skill is not None and skill not in receptionist.skills:
        return False
    return _language_ok(receptionist, language)


def ring_for(offer_timeout: float, remaining: float) -> float | None:
    """How long an offer rings when `remaining` seconds are left before the hand-off point: its
    timeout, cut to what is left; None when what is left is too short to be worth ringing."""
    if remaining < offer_timeout * MIN_OFFER_SHARE or remaining <= 0:
        return None
    return min(offer_timeout, remaining)


def order_candidates(pool: Pool, candidates: list[AgentState], cursor: str | None) -> list[AgentState]:
    """Candidates in the order the pool's strategy offers them."""
    if pool.strategy == "round_robin":
        members = list(pool.members)
        start = members.index(cursor) + 1 if cursor in members else 0
        rotation = members[start:] + members[:start]
        rank = {m: i for i, m in enumerate(rotation)}
        return sorted(candidates, key=lambda a: rank.get(a.receptionist_id, len(rank)))
    if pool.strategy == "fewest_calls":
        return sorted(candidates, key=lambda a: (a.calls_taken, a.idle_since, a.receptionist_id))
    # longest_idle, and ring_all (everyone rings; the order is only cosmetic)
    return sorted(candidates, key=lambda a: (a.idle_since, a.receptionist_id))


def available_members(
    pool: Pool, receptionists: Mapping[str, Receptionist], agents: Mapping[str, AgentState], call: CallState
) -> list[AgentState]:
    """The pool's members who could take `call` now: available, not ringing for another call, skilled."""
    return [
        agent
        for member in pool.members
        if (agent := agents.get(member)) is not None
        and agent.status == "available"
        and not agent.ringing
        and member in receptionists
        and matches_skills(receptionists[member], call.intent, call.language)
    ]


def sister_can_take(desk: SisterDesk | None, pool_id: str, call: CallState) -> bool:
    """Whether ringing a sister clinic's pool may reach someone. Rung as a whole (True) when this router
    knows nothing of who is there: a sister it does not serve, a member-less hunt group, members whose
    presence it has never seen. A pool whose members' presence it knows is skipped when none can take
    the call, as the clinic's own pools are."""
    if desk is None:
        return True
    pool = next((p for p in desk.clinic.phone.effective_pools() if p.pool_id == pool_id), None)
    if pool is None or not any(m in desk.agents for m in pool.members):
        return True
    if pool.intents and call.intent not in pool.intents:
        return False
    receptionists = {r.receptionist_id: r for r in desk.clinic.phone.receptionists}
    return bool(available_members(pool, receptionists, desk.agents, call))


def to_vendor(
    phone: PhoneSection,
    call: CallState,
    vendors: Mapping[str, VendorState],
    now: datetime,
    reason: str,
    preferred: str | None = None,
) -> ToVendor:
    """The vendor to hand the call to, and the other one to offer it too should it not answer in time."""
    chosen = pick_vendor(phone, vendors, now, preferred)
    other = hedge_vendor(phone, chosen, call.tried, vendors, now)
    at = None if other is None else max(now, latest_offer_to(phone, other, call.received_at))
    return ToVendor(chosen, reason, other, at)


def _closed_reason(clinic: ClinicConfig, at: datetime) -> str:
    return "closure" if at.astimezone(clinic.zone).date() in clinic.closures else "after_hours"


def decide(
    clinic: ClinicConfig,
    call: CallState,
    agents: Mapping[str, AgentState],
    vendors: Mapping[str, VendorState],
    now: datetime,
    cursors: Mapping[str, str] | None = None,
    sister_desks: Mapping[str, SisterDesk] | None = None,
) -> Decision:
    """The next route for `call` at `now`: an offer that fits before the hand-off, or the vendor.
    `sister_desks` holds the sister clinics whose desks this router also serves, by clinic_id."""
    phone = clinic.phone
    deadline = answer_by(phone, call.received_at)
    attempt = call.attempt + 1

    def vendor(reason: str, page: str | None = None, preferred: str | None = None) -> Decision:
        return Decision(to_vendor(phone, call, vendors, now, reason, preferred), deadline, attempt, page)

    if call.intent == "urgent":
        return vendor("urgent", phone.on_call[0].provider_id if phone.on_call else None)
    if not is_open(clinic, call.received_at):
        return vendor(_closed_reason(clinic, call.received_at))
    remaining = (handoff_at(phone, call.received_at) - now).total_seconds()
    receptionists = {r.receptionist_id: r for r in phone.receptionists}
    pools = {p.pool_id: p for p in phone.effective_pools()}
    sisters = {s.clinic_id: s for s in phone.sister_pools}
    for step in phone.effective_chain():
        if step.kind == "answering_service":
            return vendor("overflow" if call.attempt else "no_receptionist_available", preferred=step.target)
        if step.kind == "sister_clinic":
            offer = _sister_offer(sisters[step.target], call, remaining, sister_desks or {})
        else:
            cursor = (cursors or {}).get(step.target)
            offer = _pool_offer(pools[step.target], receptionists, agents, call, remaining, cursor)
        if offer is not None:
            return Decision(offer, deadline, attempt)
    return vendor("overflow")  # unreachable with a validated chain; the safety net is a human anyway


def fallback_clinic(clinic_id: str, fallback: NetworkFallback) -> ClinicConfig:
    """A clinic the router has no configuration for, as the network fallback serves it: never open,
    no desk, the fallback's vendors (so a vendor's missed deadline fails over to the other)."""
    return ClinicConfig(clinic_id=clinic_id, name="unknown clinic", timezone="UTC", phone=fallback.phone())


def _sister_offer(
    sister: SisterPool, call: CallState, remaining: float, sister_desks: Mapping[str, SisterDesk]
) -> Offer | None:
    """The sister clinic's desk, if it has not had the call, the budget covers an offer there and
    somebody there can take it (else the chain moves on at once)."""
    key = f"sister:{sister.clinic_id}"
    ring = ring_for(sister.offer_timeout_seconds, remaining)
    if (
        key in call.tried
        or ring is None
        or not sister_can_take(sister_desks.get(sister.clinic_id), sister.pool_id, call)
    ):
        return None
    return Offer("sister_clinic", sister.clinic_id, sister.pool_id, (), ring, "overflow", (key,))


def _pool_offer(
    pool: Pool,
    receptionists: Mapping[str, Receptionist],
    agents: Mapping[str, AgentState],
    call: CallState,
    remaining: float,
    cursor: str | None,
) -> Offer | None:
    """The pool's next offer for the call (a hunt group as a whole, every available member at once,
    or one by the pool's strategy), or None: the pool does not take this intent, the budget cannot
    cover another offer here, or nobody here can take it."""
    ring = ring_for(pool.offer_timeout_seconds, remaining)
    if (pool.intents and call.intent not in pool.intents) or ring is None:
        return None
    if not pool.members:  # a hunt group the phone system rings as a whole
        key = f"pool:{pool.pool_id}"
        return None if key in call.tried else Offer("pool", pool.pool_id, pool.pool_id, (), ring, "open_hours", (key,))
    candidates = [
        a for a in available_members(pool, receptionists, agents, call) if a.receptionist_id not in call.tried
    ]
    if not candidates:
        return None
    ordered = order_candidates(pool, candidates, cursor)
    if pool.strategy == "ring_all":
        ids = tuple(a.receptionist_id for a in ordered)
        return Offer("pool", pool.pool_id, pool.pool_id, ids, ring, "ring_all", ids)
    first = ordered[0].receptionist_id
    return Offer("receptionist", first, pool.pool_id, (first,), ring, pool.strategy, (first,))


def decide_unknown_clinic(
    fallback: NetworkFallback, call: CallState, vendors: Mapping[str, VendorState], now: datetime
) -> Decision:
    """The fallback's first healthy vendor at once, whatever the intent: nobody else is known."""
    phone = fallback.phone()
    route = to_vendor(phone, call, vendors, now, UNKNOWN_CLINIC)
    return Decision(route, answer_by(phone, call.received_at), call.attempt + 1)
