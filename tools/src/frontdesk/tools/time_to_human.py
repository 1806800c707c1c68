"""Time to a human: from a call's `call.received` to its first `call.answered`, and why a call that
did not reach a human within its clinic's ring budget (rings x ring_seconds) did not.

Flow: the phone side's records (call.received / .answered / .abandoned, the vendors' own topics) and
the router's (call.routed / .offered / .overflowed) are read from the broker with their record
timestamps -> `build_timelines` puts each call's on one clock, in seconds after its arrival ->
`classify` says whether it went over budget and whose the reason was -> `summarize` per clinic.

A call is **over budget** when the caller was still waiting when the budget ended and nobody had
answered. An offer gives its target a **fair chance** when the target's own answer time (an offer's
ring timeout, a vendor's `answer_target_seconds`) fits between the offer and the budget's end (with
FAIR_SLACK_SECONDS for the relay that publishes the offer after the router decided it). A
vendor is **live** for a call when the world that plays the vendors (the simulator, a benchmark's
stand-in vendor) had it answering throughout the call's budget (slow or not), not silent. The reason
of an over-budget call is the first of these that holds:

- `routed_late` (router): its first `call.routed` came after the budget ended, or never;
- `handoff_too_late` (router): a live vendor was offered the call, but too late for a fair chance
  and before any live vendor had a fair one; or no vendor got a fair chance at all; or only silent
  ones did while a live one was configured. (A live vendor offered late only after another live
  vendor's fair chance, a failover, is the first vendor's miss: the router skips a vendor it last saw
  fail, so it may not know that vendor has recovered.)
- `vendors_silent` (vendor): nobody answered, though vendors had a fair chance (a live one among
  them, if any was live);
- `vendor_slow` (vendor): a vendor answered late, though vendors had a fair chance as above;
- `unexplained` (counted as the router's): anything else, e.g. a receptionist who answered past the
  budget after a fair offer. Looked at, never excused.

A call abandoned before its budget ended is not over budget; it is counted apart (`caller_abandoned`,
the caller's). A receptionist who misses an offer is never a reason by itself: a missed ring moves
the call on, and the vendor is the backstop the router must reach in time. The router's reasons are
its promise: every step must leave the next one its answer time, and a silent vendor must not cost
the caller when another vendor is configured.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import ClinicConfig, Event

Reason = Literal["caller_abandoned", "routed_late", "handoff_too_late", "vendor_slow", "vendors_silent", "unexplained"]
Responsible = Literal["caller", "router", "vendor"]
RESPONSIBLE: dict[Reason, Responsible] = {
    "caller_abandoned": "caller",
    "routed_late": "router",
    "handoff_too_late": "router",
    "vendor_slow": "vendor",
    "vendors_silent": "vendor",
    "unexplained": "router",  # not excused: the instrument could not say why, so someone must look
}
VENDOR_KIND = "answering_service"
# An offer's record is stamped when the router's outbox relay publishes it, a little after the router
# decided; this much slack keeps a router that hands over exactly at the last fair moment fair.
FAIR_SLACK_SECONDS = 0.5
# Whether a vendor was silent at some moment between two epoch-millisecond instants.
SilentBetween = Callable[[str, int, int], bool]


@dataclass(frozen=True)
class Offer:
    at: float  # seconds after call.received
    kind: str  # receptionist / pool / sister_clinic / answering_service
    target: str
    answer_within: float  # the offer's ring timeout, or the vendor's answer target

    def fair(self, budget: float) -> bool:
        return self.at + self.answer_within <= budget + FAIR_SLACK_SECONDS


@dataclass(frozen=True)
class CallTimeline:
    """One call on one clock: seconds after its call.received record."""

    call_id: str
    clinic_id: str
    budget: float
    routed_at: float | None = None  # the first call.routed
    offers: tuple[Offer, ...] = ()
    answered_at: float | None = None  # the first call.answered
    answered_by: str | None = None  # its answered_by_kind
    abandoned_at: float | None = None
    live_vendors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Lateness:
    call_id: str
    clinic_id: str
    reason: Reason
    detail: str

    @property
    def responsible(self) -> Responsible:
        return RESPONSIBLE[self.reason]

    @property
    def router_controlled(self) -> bool:
        return self.responsible == "router"

    def format(self) -> str:
        return f"{self.call_id}: {self.reason} ({self.responsible}) {self.detail}"


def classify(call: CallTimeline) -> Lateness | None:
    """None when a human answered within the budget; else why not (see the module docstring)."""
    budget = call.budget
    if call.answered_at is not None and call.answered_at <= budget:
        return None

    def late(reason: Reason, detail: str) -> Lateness:
        return Lateness(call.call_id, call.clinic_id, reason, detail)

    if call.abandoned_at is not None and call.abandoned_at <= budget:
        return late("caller_abandoned", f"hung up after {call.abandoned_at:.1f} s of a {budget:g} s budget")
    outcome = (
        f"answered after {call.answered_at:.1f} s"
        if call.answered_at is not None
        else f"abandoned after {call.abandoned_at:.1f} s"
        if call.abandoned_at is not None
        else "never answered"
    )
    if call.routed_at is None or call.routed_at > budget:
        when = "never" if call.routed_at is None else f"after {call.routed_at:.1f} s"
        return late("routed_late", f"{outcome}; first routed {when}, budget {budget:g} s")
    ended = call.answered_at if call.answered_at is not None else float("inf")
    vendor_offers = [o for o in call.offers if o.kind == VENDOR_KIND and o.at <= ended]
    first_offer: dict[str, Offer] = {}
    for o in sorted(vendor_offers, key=lambda o: o.at):
        first_offer.setdefault(o.target, o)
    live_fair = [o.at for o in first_offer.values() if o.fair(budget) and o.target in call.live_vendors]
    first_fair = min(live_fair, default=float("inf"))
    unfair_live = [
        o for o in first_offer.values() if o.target in call.live_vendors and not o.fair(budget) and o.at < first_fair
    ]
    if unfair_live:
        o = unfair_live[0]
        return late(
            "handoff_too_late",
            f"{outcome}; live vendor {o.target} offered at {o.at:.1f} s, needs {o.answer_within:g} s:"
            f" {o.at + o.answer_within - budget:.1f} s past the {budget:g} s budget; offers: "
            + ", ".join(f"{x.kind} {x.target} at {x.at:.1f} s" for x in call.offers),
        )
    fair = [o.target for o in first_offer.values() if o.fair(budget)]
    if not fair:
        return late("handoff_too_late", f"{outcome}; no vendor was offered the call in time, budget {budget:g} s")
    if call.live_vendors and not call.live_vendors & set(fair):
        live = ", ".join(sorted(call.live_vendors))
        return late("handoff_too_late", f"{outcome}; only silent vendors were offered in time, not {live}")
    if call.answered_at is None:
        silent = ", ".join(sorted(first_offer))
        return late("vendors_silent", f"{outcome}; offered in time to {silent}, none answered")
    if call.answered_by == VENDOR_KIND:
        return late("vendor_slow", f"{outcome}; every vendor offered had its full answer target, budget {budget:g} s")
    return late("unexplained", f"{outcome} by a {call.answered_by}; budget {budget:g} s")


# --- from broker records to timelines ----------------------------------------------------------------


def build_timelines(
    stamped: Iterable[tuple[int, Envelope[Event]]],
    clinics: Mapping[str, ClinicConfig],
    silent_between: SilentBetween = lambda _vendor, _start, _end: False,
) -> list[CallTimeline]:
    """Every call.received of `clinics` among `stamped` (record timestamp in ms, event) as a timeline.

    The first of each kind counts (a redelivered record, a second answer after a withdrawal, a
    later route of the same call)."""
    received: dict[str, tuple[int, Any]] = {}
    first: dict[tuple[str, str], int] = {}
    answered_by: dict[str, tuple[int, str]] = {}
    offers: dict[str, dict[tuple[str, str, int], tuple[int, Any]]] = defaultdict(dict)
    for ts, env in stamped:
        d: Any = env.data
        if getattr(d, "clinic_id", None) not in clinics or not hasattr(d, "call_id"):
            continue
        call_id = d.call_id
        if env.type == "call.received":
            if call_id not in received or ts < received[call_id][0]:
                received[call_id] = (ts, d)
        elif env.type in ("call.routed", "call.abandoned"):
            key = (call_id, env.type)
            first[key] = min(ts, first.get(key, ts))
        elif env.type == "call.answered":
            if call_id not in answered_by or ts < answered_by[call_id][0]:
                answered_by[call_id] = (ts, d.answered_by_kind)
        elif env.type == "call.offered":
            offers[call_id].setdefault((d.target_kind, d.target_id, d.attempt), (ts, d))
        elif env.type == "call.overflowed":
            offers[call_id].setdefault((VENDOR_KIND, d.vendor_id, d.attempt), (ts, d))
    timelines = []
    for call_id, (t0, event) in received.items():
        phone = clinics[event.clinic_id].phone
        budget = phone.ring_budget_seconds
        targets = {v.vendor_id: v.answer_target_seconds for v in phone.effective_vendors()}

        def after(ts: int | None, start: int = t0) -> float | None:
            return None if ts is None else (ts - start) / 1000

        call_offers = []
        for (kind, target, _attempt), (ts, d) in offers[call_id].items():
            within = targets.get(target, 0.0) if kind == VENDOR_KIND else d.ring_timeout_seconds
            call_offers.append(Offer((ts - t0) / 1000, kind, target, within))
        answer = answered_by.get(call_id)
        end = t0 + int(budget * 1000)
        timelines.append(
            CallTimeline(
                call_id=call_id,
                clinic_id=event.clinic_id,
                budget=budget,
                routed_at=after(first.get((call_id, "call.routed"))),
                offers=tuple(sorted(call_offers, key=lambda o: o.at)),
                answered_at=after(answer[0]) if answer else None,
                answered_by=answer[1] if answer else None,
                abandoned_at=after(first.get((call_id, "call.abandoned"))),
                live_vendors=frozenset(v for v in targets if not silent_between(v, t0, end)),
            )
        )
    return timelines


# --- per clinic -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank (every number reported was really observed); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class TimeToHuman:
    """One clinic's (or one benchmark scenario's) time to a human, in seconds."""

    calls: int
    answered: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    over_budget: tuple[Lateness, ...]  # the caller was still waiting when the budget ended
    abandoned_in_budget: int  # hung up before the budget ended (not over budget)

    @property
    def router_breaches(self) -> list[Lateness]:
        return [x for x in self.over_budget if x.router_controlled]

    def counts(self) -> dict[Responsible, int]:
        out: dict[Responsible, int] = {"router": 0, "vendor": 0}
        for x in self.over_budget:
            out[x.responsible] = out.get(x.responsible, 0) + 1
        return out


def summarize(timelines: list[CallTimeline]) -> TimeToHuman:
    waits = [t.answered_at for t in timelines if t.answered_at is not None]
    verdicts = [v for t in timelines if (v := classify(t)) is not None]
    return TimeToHuman(
        calls=len(timelines),
        answered=len(waits),
        p50=percentile(waits, 50),
        p95=percentile(waits, 95),
        p99=percentile(waits, 99),
        max=max(waits, default=None),
        over_budget=tuple(v for v in verdicts if v.reason != "caller_abandoned"),
        abandoned_in_budget=sum(1 for v in verdicts if v.reason == "caller_abandoned"),
    )


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_time_to_human(clinics: list[ClinicConfig], per_clinic: Mapping[str, TimeToHuman]) -> list[str]:
    """A table per clinic, then every call over budget with its reason."""
    lines = [
        "Time to a human (call.received -> first call.answered, broker timestamps), seconds:",
        f"{'clinic':<16} {'budget':>6} {'calls':>5} {'answd':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}"
        f" {'over':>5} {'routr':>5} {'vendr':>5} {'aband':>5}",
    ]
    over: list[str] = []
    for clinic in clinics:
        if (t := per_clinic.get(clinic.clinic_id)) is None:
            continue
        counts = t.counts()
        lines.append(
            f"{clinic.clinic_id[-16:]:<16} {clinic.phone.ring_budget_seconds:>6g} {t.calls:>5} {t.answered:>5}"
            f" {_secs(t.p50):>6} {_secs(t.p95):>6} {_secs(t.p99):>6} {_secs(t.max):>6}"
            f" {len(t.over_budget):>5} {counts['router']:>5} {counts['vendor']:>5} {t.abandoned_in_budget:>5}"
        )
        over += [x.format() for x in t.over_budget]
    lines.append(
        "over = calls still waiting when the budget (rings x ring_seconds) ended, by whose reason (router /"
        " vendor); aband = hung up before the budget ended (not over budget)."
    )
    if over:
        lines.append("Over budget:\n  " + "\n  ".join(over))
    return lines
