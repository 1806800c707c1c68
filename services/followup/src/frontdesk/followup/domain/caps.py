"""Frequency caps: at most `limit` messages of a purpose in any rolling `window`.

TCPA health-care exemption (FCC 15-72): treatment messages at most 1 a day and 3 a week. Windows are
rolling and measured in elapsed (UTC) time, which is never looser than calendar days.
A message at instant t counts the messages sent in (t - window, t].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Cap:
    window: timedelta
    limit: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError("a cap needs a positive window and limit")


DEFAULT_CAPS: Mapping[str, tuple[Cap, ...]] = {
    "treatment": (Cap(timedelta(days=1), 1), Cap(timedelta(days=7), 3)),
}


def within_caps(sent: Iterable[datetime], at: datetime, caps: Sequence[Cap]) -> bool:
    times = list(sent)
    return all(sum(1 for s in times if at - cap.window < s <= at) < cap.limit for cap in caps)


def clear_of_caps(sent: Iterable[datetime], at: datetime, caps: Sequence[Cap]) -> datetime:
    """The earliest instant >= `at` at which one more message stays within every cap.

    Assumes nothing else is sent after `at` (the caller re-checks at the moment of sending)."""
    times = sorted(s for s in sent if s <= at)
    earliest = at
    for cap in caps:
        in_window = [s for s in times if at - cap.window < s]
        excess = len(in_window) - cap.limit + 1
        if excess > 0:
            # The `excess` oldest of them must have left the window: t >= s + window.
            earliest = max(earliest, in_window[excess - 1] + cap.window)
    return earliest
