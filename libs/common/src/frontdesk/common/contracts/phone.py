"""The phone section of a clinic's configuration (receptionists, pools, vendors, the on-call roster,
the routing chain), the network's fallback, and answering-service vendors' ids and topics.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, WithJsonSchema, model_validator

from .base import Id, Section
from .sip import SipSection

CallIntent = Literal["new_patient", "appointment", "prescription", "billing", "results", "urgent", "other"]
RouteTargetKind = Literal["receptionist", "pool", "sister_clinic", "answering_service", "on_call"]
Strategy = Literal["longest_idle", "ring_all", "round_robin", "fewest_calls"]
AgentStatus = Literal["available", "busy", "wrap_up", "paused", "offline"]
Skill = Literal["new_patient_booking", "billing", "prescriptions", "results"]
# The receptionist skill a call of each intent needs (None: anyone who speaks the caller's language).
# Routing offers such a call only to receptionists with the skill; hunt groups and sister pools, whose
# members the router does not see, take the intents their pool's `intents` allow.
INTENT_SKILLS: dict[str, Skill | None] = {
    "new_patient": "new_patient_booking",
    "prescription": "prescriptions",
    "billing": "billing",
    "results": "results",
    "appointment": None,
    "urgent": None,
    "other": None,
}
Language = str
_LANGUAGE = r"^[a-z]{2,3}(-[A-Z]{2})?$"

# Each answering-service vendor has two topics of its own under `vendor.<vendor_id>.`, which its
# Kafka ACLs (a prefix) give to it alone: `.calls` in (the calls handed to it, and the pages it must
# deliver) and `.events` out (what it reports back). Who wrote a record on `.events` is therefore
# known from the topic; the router still checks that the record is about that vendor's own calls.
VENDOR_TOPIC_PREFIX = "vendor."
# A vendor id is a DNS label (lower-case letters, digits, dashes; at most 63): never a dot, or the
# prefix `vendor.a.` that vendor "a" is granted would also cover vendor "a.b"'s topics.
_VENDOR_ID = r"[a-z0-9][a-z0-9-]{0,62}"
VENDOR_ID_PATTERN = rf"^{_VENDOR_ID}$"
VENDOR_CALLS_TOPIC = rf"^vendor\.{_VENDOR_ID}\.calls$"
VENDOR_EVENTS_TOPIC = rf"^vendor\.{_VENDOR_ID}\.events$"
_VENDOR_EVENTS_SUFFIX = ".events"
# Event types that may travel on a topic other than their registry topic (pattern -> allowed).
TOPIC_PATTERNS: dict[str, tuple[str, ...]] = {
    "call.overflowed": (VENDOR_CALLS_TOPIC,),
    "oncall.page_requested": (VENDOR_CALLS_TOPIC,),
    # the phone system reports these on the shared topics; a vendor on its own topic
    "call.answered": (VENDOR_EVENTS_TOPIC,),
    "call.ended": (VENDOR_EVENTS_TOPIC,),
    # only vendors write these: no shared topic at all (shared_topic = False)
    "answering.message_taken": (VENDOR_EVENTS_TOPIC,),
    "answering.page_sent": (VENDOR_EVENTS_TOPIC,),
    "answering.page_acknowledged": (VENDOR_EVENTS_TOPIC,),
    "answering.heartbeat": (VENDOR_EVENTS_TOPIC,),
    "answering.appointment_requested": (VENDOR_EVENTS_TOPIC,),
    # only the router writes this, only to the vendor it takes a call back from
    "call.withdrawn": (VENDOR_CALLS_TOPIC,),
}


def check_vendor_id(vendor_id: str) -> str:
    """`vendor_id` if it can name a vendor's topics and ACL prefix; ValueError saying why not."""
    if not re.fullmatch(_VENDOR_ID, vendor_id):
        raise ValueError(
            f"vendor id {vendor_id[:128]!r} must be 1-63 lower-case letters, digits or dashes, starting with"
            " a letter or digit (no dots: a vendor's Kafka ACLs are the prefix vendor.<id>., which would"
            " then cover another vendor's topics)"
        )
    return vendor_id


# A vendor id in configuration (checked as check_vendor_id says; JSON Schema: the same pattern).
VendorId = Annotated[
    str,
    AfterValidator(check_vendor_id),
    WithJsonSchema({"type": "string", "pattern": VENDOR_ID_PATTERN, "maxLength": 63}),
]


def vendor_calls_topic(vendor_id: str) -> str:
    """`vendor.<vendor_id>.calls`: the calls handed to this vendor (call.overflowed)."""
    return f"{VENDOR_TOPIC_PREFIX}{check_vendor_id(vendor_id)}.calls"


def vendor_events_topic(vendor_id: str) -> str:
    """`vendor.<vendor_id>.events`: what this vendor reports back (answers, messages, pages, heartbeats)."""
    return f"{VENDOR_TOPIC_PREFIX}{check_vendor_id(vendor_id)}{_VENDOR_EVENTS_SUFFIX}"


def vendor_of_events_topic(topic: str) -> str | None:
    """The vendor whose own `vendor.<id>.events` this topic is (None for any other topic)."""
    if not re.match(VENDOR_EVENTS_TOPIC, topic):
        return None
    return topic.removeprefix(VENDOR_TOPIC_PREFIX).removesuffix(_VENDOR_EVENTS_SUFFIX)


class Receptionist(Section):
    """A person who answers the phone. Ids only: no names on shared topics."""

    receptionist_id: Id
    languages: list[Language] = Field(default_factory=lambda: ["en"])
    skills: list[Skill] = Field(default_factory=list)

    @model_validator(mode="after")
    def _languages(self) -> Receptionist:
        bad = [lang for lang in self.languages if not re.match(_LANGUAGE, lang)]
        if bad:
            raise ValueError(f"languages {bad} are not language tags like 'en' or 'es-MX'")
        return self


class Pool(Section):
    """A group of receptionists answered by one strategy.

    `members` lists the receptionists the router offers calls to one by one (or all at once for
    ring_all), tracking their presence. A pool without members is a hunt group the phone system
    rings as a whole: the router offers the call to the pool and escalates when its timeout passes.
    """

    pool_id: Id
    members: list[Id] = Field(default_factory=list)
    strategy: Strategy = "longest_idle"
    offer_timeout_seconds: float = Field(6.0, gt=0, le=60, description="How long one offer rings.")
    intents: list[CallIntent] = Field(default_factory=list, description="Intents this pool takes; empty = all.")
    autopause: bool = Field(True, description="Pause a receptionist who misses an offer (emits agent.auto_paused).")


class SisterPool(Section):
    """Overflow to another clinic's front desk, rung as a whole."""

    clinic_id: Id
    pool_id: Id
    offer_timeout_seconds: float = Field(6.0, gt=0, le=60)


class Vendor(Section):
    """A 24/7 medical answering service (a live human)."""

    vendor_id: VendorId
    answer_target_seconds: float = Field(
        12.0, gt=0, le=120, description="Seconds the vendor has to answer before failover."
    )
    heartbeat_timeout_seconds: float = Field(
        60.0, gt=0, description="No heartbeat for this long (once any was seen) = unhealthy."
    )


PageChannel = Literal["pager", "mobile", "phone"]


class OnCallStep(Section):
    """One step of the on-call escalation: page this provider, resend, then escalate.

    domain.md's "resend every 2 min, mobile at 10 min, backup provider at 15 min" is three steps:
    the provider's pager (escalate after 600 s), the same provider's mobile (after 300 s), the backup.
    """

    provider_id: Id
    channel: PageChannel = "pager"
    resend_every_seconds: float = Field(120.0, gt=0)
    escalate_after_seconds: float = Field(600.0, gt=0)


ChainStepKind = Literal["pool", "sister_clinic", "answering_service"]


class ChainStep(Section):
    """One step of the open-hours routing chain. There is no voicemail kind, by design."""

    kind: ChainStepKind
    target: Id = Field(description="pool_id, sister clinic_id, or vendor_id")


class PhoneSection(Section):
    """The call-router's configuration: ring budget, pools, overflow, vendors, on-call roster.

    Older documents that name only `front_desk_pool` and `answering_service` stay valid: the pool
    becomes a hunt group and the answering service the primary vendor.
    """

    ring_seconds: float = Field(6.0, gt=0, le=30)
    rings: int = Field(3, ge=1, le=10)
    front_desk_pool: Id = "front-desk"
    answering_service: VendorId = Field(description="The primary answering-service vendor (vendor_id).")
    secondary_answering_service: VendorId | None = None
    receptionists: list[Receptionist] = Field(default_factory=list)
    pools: list[Pool] = Field(default_factory=list)
    sister_pools: list[SisterPool] = Field(default_factory=list)
    vendors: list[Vendor] = Field(default_factory=list)
    on_call: list[OnCallStep] = Field(default_factory=list)
    chain: list[ChainStep] | None = Field(
        None, description="Explicit open-hours chain; default: pools, sister pools, the vendor."
    )
    vendor_handoff_seconds: float | None = Field(
        None,
        gt=0,
        description="Hand the call to the vendor this long before the ring budget ends. Default: the"
        " longest answer target of the vendors the call may go to, so each can answer inside the budget;"
        " a larger value gives the primary time alone before the secondary is offered the call too.",
    )
    sip: SipSection | None = Field(
        None, description="Where each target rings on SIP (phone-bridge); every vendor needs a SIP URI."
    )

    @property
    def ring_budget_seconds(self) -> float:
        return self.ring_seconds * self.rings

    def answering_vendors(self) -> list[str]:
        """The vendors a call may be handed to: primary, secondary, and any the chain names."""
        named = [self.answering_service, self.secondary_answering_service]
        named += [s.target for s in self.effective_chain() if s.kind == "answering_service"]
        return list(dict.fromkeys(v for v in named if v is not None))

    @property
    def handoff_lead_seconds(self) -> float:
        """How long before the budget ends the vendor gets the call (see vendor_handoff_seconds)."""
        if self.vendor_handoff_seconds is not None:
            return self.vendor_handoff_seconds
        return max(self._target(v) for v in self.answering_vendors())

    def _target(self, vendor_id: str) -> float:
        return self.vendor(vendor_id).answer_target_seconds

    def effective_pools(self) -> list[Pool]:
        return self.pools or [Pool(pool_id=self.front_desk_pool)]

    def effective_vendors(self) -> list[Vendor]:
        known = {v.vendor_id: v for v in self.vendors}
        for vendor_id in (self.answering_service, self.secondary_answering_service):
            if vendor_id is not None and not self.vendors:
                known.setdefault(vendor_id, Vendor(vendor_id=vendor_id))
        return list(known.values())

    def vendor(self, vendor_id: str) -> Vendor:
        for v in self.effective_vendors():
            if v.vendor_id == vendor_id:
                return v
        raise KeyError(vendor_id)

    def effective_chain(self) -> list[ChainStep]:
        if self.chain is not None:
            return list(self.chain)
        return [
            *(ChainStep(kind="pool", target=p.pool_id) for p in self.effective_pools()),
            *(ChainStep(kind="sister_clinic", target=s.clinic_id) for s in self.sister_pools),
            ChainStep(kind="answering_service", target=self.answering_service),
        ]

    @model_validator(mode="after")
    def _consistent(self) -> PhoneSection:
        problems: list[str] = []
        vendor_ids = {v.vendor_id for v in self.vendors}
        if len(vendor_ids) != len(self.vendors):
            problems.append("vendors: a vendor_id appears more than once")
        if self.vendors:
            for name, ref in (
                ("answering_service", self.answering_service),
                ("secondary_answering_service", self.secondary_answering_service),
            ):
                if ref is not None and ref not in vendor_ids:
                    problems.append(f"{name}: vendor {ref!r} is not in vendors")
        if self.secondary_answering_service == self.answering_service:
            problems.append("secondary_answering_service must differ from answering_service")
        receptionist_ids = {r.receptionist_id for r in self.receptionists}
        pool_ids = {p.pool_id for p in self.effective_pools()}
        if len(pool_ids) != len(self.effective_pools()):
            problems.append("pools: a pool_id appears more than once")
        for pool in self.pools:
            unknown = [m for m in pool.members if m not in receptionist_ids]
            if unknown:
                problems.append(f"pool {pool.pool_id}: members {unknown} are not in receptionists")
        sister_ids = {s.clinic_id for s in self.sister_pools}
        if self.chain is not None:
            if not self.chain:
                problems.append("chain: must not be empty")
            for i, step in enumerate(self.chain):
                if step.kind == "pool" and step.target not in pool_ids:
                    problems.append(f"chain[{i}]: pool {step.target!r} does not exist")
                if step.kind == "sister_clinic" and step.target not in sister_ids:
                    problems.append(f"chain[{i}]: sister clinic {step.target!r} is not in sister_pools")
                if step.kind == "answering_service" and step.target not in (vendor_ids or {self.answering_service}):
                    problems.append(f"chain[{i}]: vendor {step.target!r} does not exist")
            if self.chain and self.chain[-1].kind != "answering_service":
                problems.append(
                    "chain: the last step must be a live 24/7 human (an answering_service), never voicemail"
                    " or a desk that may be empty"
                )
        if not problems:  # the checks below assume the references above resolve
            from .phone_checks import skill_problems  # it reads this module's types
            from .sip import sip_problems

            problems += skill_problems(self) + sip_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class NetworkFallback(Section):
    """Where a call goes when the router has no configuration for its clinic (not configured yet, a
    typo in the phone system's number-to-clinic map, a replica that has not read clinic.configured):
    to an answering service at once, reason `unknown_clinic`, never a dead end. Network-wide, from
    `network.configured`."""

    answering_service: Id = Field(description="The fallback vendor (vendor_id).")
    secondary_answering_service: Id | None = None
    vendors: list[Vendor] = Field(default_factory=list, description="Answer targets and heartbeat timeouts.")
    ring_seconds: float = Field(6.0, gt=0, le=30)
    rings: int = Field(3, ge=1, le=10, description="With ring_seconds: the budget such a call is answered in.")

    def phone(self) -> PhoneSection:
        """The fallback as a phone section: no receptionists, the vendors as its whole chain."""
        return PhoneSection(
            ring_seconds=self.ring_seconds,
            rings=self.rings,
            answering_service=self.answering_service,
            secondary_answering_service=self.secondary_answering_service,
            vendors=self.vendors,
            chain=[ChainStep(kind="answering_service", target=self.answering_service)],
        )

    def vendor_ids(self) -> list[str]:
        return [v.vendor_id for v in self.phone().effective_vendors()]

    @model_validator(mode="after")
    def _consistent(self) -> NetworkFallback:
        try:
            phone = self.phone()  # the same vendor rules as a clinic's phone section
        except ValidationError as exc:
            raise ValueError("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from None
        from .phone_checks import budget_problems  # here: phone_checks imports this module

        if problems := budget_problems(phone):
            raise ValueError(
                "the network fallback cannot reach a live human within its ring budget: " + "; ".join(problems)
            )
        return self


__all__ = [
    "INTENT_SKILLS",
    "TOPIC_PATTERNS",
    "VENDOR_CALLS_TOPIC",
    "VENDOR_EVENTS_TOPIC",
    "VENDOR_ID_PATTERN",
    "VENDOR_TOPIC_PREFIX",
    "AgentStatus",
    "CallIntent",
    "ChainStep",
    "ChainStepKind",
    "Language",
    "NetworkFallback",
    "OnCallStep",
    "PageChannel",
    "PhoneSection",
    "Pool",
    "Receptionist",
    "RouteTargetKind",
    "SisterPool",
    "Skill",
    "Strategy",
    "Vendor",
    "VendorId",
    "check_vendor_id",
    "vendor_calls_topic",
    "vendor_events_topic",
    "vendor_of_events_topic",
]
