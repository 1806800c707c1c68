"""What an inbound SMS reply means: opt-out/opt-in words, 1/2/3 answers, or a possible concern.

Opt-out words must always work (domain.md section 3), so they are honoured whatever else the message
says; a message can be both an opt-out and a concern (both are acted on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OPT_OUT_WORDS = ("STOP", "QUIT", "END", "REVOKE", "OPT OUT", "CANCEL", "UNSUBSCRIBE")
OPT_IN_WORDS = ("START", "UNSTOP")
# Words that are an opt-out wherever they appear; the rest only as the whole reply or its first word
# ("cancel" inside a sentence is more likely about an appointment, but alone it is an opt-out).
_ANYWHERE = {"STOP", "UNSUBSCRIBE", "STOPALL", "OPTOUT"}
_ANSWERS = {"1": "confirm", "2": "cancel", "3": "reschedule", "CONFIRM": "confirm", "RESCHEDULE": "reschedule"}
_URGENT = {
    "EMERGENCY", "911", "CHEST", "BREATHE", "BREATHING", "BREATH", "UNCONSCIOUS", "SUICIDE", "SUICIDAL",
    "SEIZURE", "STROKE", "OVERDOSE", "HEMORRHAGE", "BLEEDING",
}  # fmt: skip
_CONCERN = _URGENT | {
    "PAIN", "PAINFUL", "HURT", "HURTS", "HURTING", "BLEED", "BLOOD", "FEVER", "SWELLING", "SWOLLEN",
    "INFECTION", "INFECTED", "PUS", "WORSE", "DIZZY", "VOMIT", "VOMITING", "NAUSEA", "RASH", "ALLERGIC",
    "REACTION", "NUMB", "URGENT", "SICK", "ACHE", "ACHING", "HELP", "CONCERNED", "WORRIED",
}  # fmt: skip

Answer = Literal["confirm", "cancel", "reschedule"]


@dataclass(frozen=True)
class ReplyMeaning:
    opt_out: bool = False
    opt_in: bool = False
    answer: Answer | None = None
    concern: Literal["routine", "urgent"] | None = None

    @property
    def recognised(self) -> bool:
        return self.opt_out or self.opt_in or self.answer is not None or self.concern is not None


def normalise(text: str) -> str:
    words = re.sub(r"[^A-Z0-9 ]+", " ", text.upper().replace("-", " "))
    return " ".join(words.split())


def classify(text: str) -> ReplyMeaning:
    norm = normalise(text)
    tokens = norm.split()
    joined = norm.replace(" ", "")
    opt_out = (
        norm in OPT_OUT_WORDS
        or joined == "OPTOUT"
        or bool(tokens and tokens[0] in {w for w in OPT_OUT_WORDS if " " not in w})
        or norm.startswith("OPT OUT")
        or any(t in _ANYWHERE for t in tokens)
        or " OPT OUT" in f" {norm} "
    )
    opt_in = not opt_out and norm in OPT_IN_WORDS
    answer = _ANSWERS.get(norm) if not opt_out else None
    concern: Literal["routine", "urgent"] | None = None
    if any(t in _URGENT for t in tokens):
        concern = "urgent"
    elif any(t in _CONCERN for t in tokens):
        concern = "routine"
    return ReplyMeaning(opt_out=opt_out, opt_in=opt_in, answer=answer, concern=concern)  # type: ignore[arg-type]
