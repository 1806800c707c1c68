"""Scores, low-score detection, service recovery and public reply drafts. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from frontdesk.common.contracts import RatingScale

Sentiment = Literal["positive", "neutral", "negative"]
SCALE_RANGE: dict[RatingScale, tuple[int, int]] = {"stars": (1, 5), "nps": (0, 10)}
MAX_COMMENT = 2000
MAX_RE_ESCALATIONS = 5  # after level 1 + 5, the task stays open and visible but stops paging


def score_problem(scale: RatingScale, score: int) -> str | None:
    """What is wrong with a score on a scale (None if it is valid)."""
    low, high = SCALE_RANGE[scale]
    if not low <= score <= high:
        return f"the score must be {low}-{high} on the {scale} scale"
    return None


def is_low(scale: RatingScale, score: int) -> bool:
    """A low score opens a service-recovery task: <= 3 stars, or an NPS detractor (<= 6)."""
    return score <= 3 if scale == "stars" else score <= 6


def sentiment(scale: RatingScale, score: int) -> Sentiment:
    if is_low(scale, score):
        return "negative"
    if (scale == "stars" and score == 5) or (scale == "nps" and score >= 9):
        return "positive"
    return "neutral"


# --- service recovery -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryTask:
    level: int
    due_at: datetime  # the current deadline
    last_touched_at: datetime | None  # the last staff note
    armed_at: datetime  # when the current deadline was set
    closed: bool


@dataclass(frozen=True)
class DeadlineDecision:
    escalate: bool
    next_check_at: datetime | None  # None: stop watching


def on_deadline(task: RecoveryTask, now: datetime, deadline: timedelta) -> DeadlineDecision:
    """The task's deadline passed: escalate again if nobody touched it since the deadline was set;
    if someone did, watch it again one deadline after their last touch."""
    if task.closed:
        return DeadlineDecision(False, None)
    if task.last_touched_at is not None and task.last_touched_at > task.armed_at:
        return DeadlineDecision(False, task.last_touched_at + deadline)
    if task.level >= 1 + MAX_RE_ESCALATIONS:
        return DeadlineDecision(False, None)
    return DeadlineDecision(True, now + deadline)


# --- public replies ---------------------------------------------------------------------------

_REPLIES: dict[Sentiment, str] = {
    "positive": (
        "Thank you for taking the time to share this. Kind words mean a great deal to our whole team, "
        "and we look forward to continuing to serve our community. - {practice}"
    ),
    "neutral": (
        "Thank you for your feedback. We are always looking for ways to improve, and we would welcome "
        "the chance to hear more. Please contact our office directly. - {practice}"
    ),
    "negative": (
        "Thank you for taking the time to write. We take all feedback seriously and would like the chance "
        "to make things right. To protect everyone's privacy we cannot discuss details here; please contact "
        "our office manager directly. - {practice}"
    ),
}


def reply_templates() -> dict[Sentiment, str]:
    return dict(_REPLIES)


def draft_public_reply(tone: Sentiment, practice_name: str) -> str:
    """A suggested reply to a public review. It takes only the tone and the practice's public name:
    no patient, date, visit reason or provider can reach it, and it never confirms that the reviewer
    is a patient (HIPAA: even that is PHI)."""
    return _REPLIES[tone].format(practice=practice_name.strip())


def leaks(text: str, sensitive: list[str]) -> list[str]:
    """The sensitive values (case-insensitive, 3+ characters) that appear in `text`."""
    lowered = text.lower()
    return [s for s in sensitive if len(s.strip()) >= 3 and s.strip().lower() in lowered]
