"""Whether a phone configuration can keep the promise: a live human within the ring budget, and
skills that routing can use. ClinicConfig (budget, so the message names the clinic) and PhoneSection
(skills) refuse a configuration for which these return problems; `frontdesk apply` then publishes
nothing. Each problem names the step and, for the budget, the seconds missing.
"""

from __future__ import annotations

from .phone import INTENT_SKILLS, PhoneSection, Pool


def budget_problems(phone: PhoneSection) -> list[str]:
    """Why this chain cannot get a live human to answer within the ring budget (empty: it can).

    Worked backwards from the budget's end: a vendor with answer target a must have the call a
    seconds before it, and every desk offer must ring out before that hand-off point."""
    budget, lead = phone.ring_budget_seconds, phone.handoff_lead_seconds
    problems: list[str] = []
    for vendor_id in phone.answering_vendors():
        target = phone.vendor(vendor_id).answer_target_seconds
        if target > budget:
            problems.append(
                f"vendor {vendor_id} needs {target:g} s to answer but the ring budget is {budget:g} s:"
                f" {target - budget:g} s missing"
            )
        elif target > lead:
            problems.append(
                f"vendor_handoff_seconds {lead:g} leaves vendor {vendor_id} {lead:g} s of the {target:g} s"
                f" it needs to answer: {target - lead:g} s missing"
            )
    if lead > budget:
        if phone.vendor_handoff_seconds is not None:
            problems.append(f"vendor_handoff_seconds {lead:g} is longer than the ring budget {budget:g} s")
        return problems
    window = budget - lead
    pools = {p.pool_id: p for p in phone.effective_pools()}
    sisters = {s.clinic_id: s for s in phone.sister_pools}
    for i, step in enumerate(phone.effective_chain(), start=1):
        if step.kind == "pool" and step.target in pools:
            offer = pools[step.target].offer_timeout_seconds
        elif step.kind == "sister_clinic" and step.target in sisters:
            offer = sisters[step.target].offer_timeout_seconds
        else:
            continue
        if offer > window:
            problems.append(
                f"chain step {i} ({step.kind} {step.target}): its {offer:g} s offer cannot ring out before"
                f" the vendor hand-off {window:g} s after the call arrives ({budget:g} s budget -"
                f" {lead:g} s for the vendor to answer): {offer - window:g} s missing"
            )
    return problems


def skill_problems(phone: PhoneSection) -> list[str]:
    """Skills no route can use, and pools that take intents none of their members can serve."""
    problems: list[str] = []
    pools = {p.pool_id: p for p in phone.effective_pools()}
    chained = [pools[s.target] for s in phone.effective_chain() if s.kind == "pool" and s.target in pools]
    skills = {r.receptionist_id: set(r.skills) for r in phone.receptionists}

    def intents_of(pool: Pool) -> list[str]:
        return list(pool.intents) or list(INTENT_SKILLS)

    for r in phone.receptionists:
        for skill in r.skills:
            if not any(
                r.receptionist_id in p.members and any(INTENT_SKILLS[i] == skill for i in intents_of(p))
                for p in chained
            ):
                needs = [i for i, s in INTENT_SKILLS.items() if s == skill]
                problems.append(
                    f"receptionist {r.receptionist_id}: skill {skill!r} is never used: no pool of the chain"
                    f" offers them {'/'.join(needs)} calls"
                )
    for pool in chained:
        for intent in pool.intents:
            needed = INTENT_SKILLS[intent]
            if pool.members and needed is not None and not any(needed in skills.get(m, ()) for m in pool.members):
                problems.append(
                    f"pool {pool.pool_id}: takes {intent!r} calls, which need skill {needed!r}, but none of its"
                    " members has it"
                )
    return problems
