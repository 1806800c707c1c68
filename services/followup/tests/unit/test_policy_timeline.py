"""A whole timeline, not one decision: many requests for one patient, an opt-out somewhere, every
decision re-taken when its timer fires (as the service does). Whatever the order, zone, DST or
rule, the log of what was sent never has a message in quiet hours, over a cap, after the opt-out,
or after its expiry; and every request ends sent or skipped (nothing is left waiting forever)."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain.caps import DEFAULT_CAPS
from frontdesk.followup.domain.consent import ConsentEntry, opt_out_all
from frontdesk.followup.domain.policy import Recipient, decide
from frontdesk.followup.domain.quiet_hours import FEDERAL, STATE_RULES, QuietRule

ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
# Around DST changes in both hemispheres.
STARTS = [
    datetime(2026, 3, 7, 12, tzinfo=UTC),
    datetime(2026, 10, 31, 12, tzinfo=UTC),
    datetime(2026, 4, 4, 0, tzinfo=UTC),
]

requests_st = st.lists(
    st.tuples(
        st.integers(0, 60 * 24 * 6),  # arrival, minutes after start
        st.integers(0, 60 * 24),  # not_before, minutes after arrival
        st.none() | st.integers(60, 60 * 24 * 4),  # expires, minutes after arrival
        st.sampled_from(["treatment", "feedback"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=250, deadline=None)
@given(
    start=st.sampled_from(STARTS),
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    rule=st.sampled_from([FEDERAL, *STATE_RULES.values(), QuietRule.uniform(time(12), time(13))]),
    requests=requests_st,
    stop_after=st.none() | st.integers(0, 60 * 24 * 8),
)
def test_the_sent_log_never_breaks_a_rule(
    start: datetime,
    zone: ZoneInfo,
    rule: QuietRule,
    requests: list[tuple[int, int, int | None, str]],
    stop_after: int | None,
) -> None:
    ledger = [ConsentEntry(p, True, start - timedelta(days=1), "registration") for p in ("treatment", "feedback")]
    stop_at = None if stop_after is None else start + timedelta(minutes=stop_after)
    recipient = Recipient(True, zone, rule)
    queue: list[tuple[datetime, int]] = []
    info = {}
    for n, (arrive, nb, exp, purpose) in enumerate(requests):
        arrival = start + timedelta(minutes=arrive)
        info[n] = (arrival + timedelta(minutes=nb), None if exp is None else arrival + timedelta(minutes=exp), purpose)
        heapq.heappush(queue, (arrival, n))
    sent: list[tuple[datetime, str, int]] = []
    outcome: dict[int, str] = {}
    while queue:
        now, n = heapq.heappop(queue)
        not_before, expires_at, purpose = info[n]
        current = list(ledger)
        if stop_at is not None and stop_at <= now:
            current += opt_out_all(current, stop_at)
        d = decide(
            now=now,
            purpose=purpose,  # type: ignore[arg-type]
            ledger=current,
            recipient=recipient,
            sent_same_purpose=[t for t, p, _ in sent if p == purpose],
            not_before=not_before,
            expires_at=expires_at,
        )
        if d.skip is not None:
            outcome[n] = d.skip
        elif d.send_at == now:
            sent.append((now, purpose, n))
            outcome[n] = "sent"
        else:
            assert d.send_at is not None and d.send_at > now
            heapq.heappush(queue, (d.send_at, n))
    assert set(outcome) == set(info)  # every request was decided
    for t, purpose, n in sent:
        assert rule.allows(t, zone)
        assert stop_at is None or t < stop_at
        expires_at = info[n][1]
        assert expires_at is None or t < expires_at
        assert t >= info[n][0]
        for cap in DEFAULT_CAPS.get(purpose, ()):
            in_window = [s for s, p, _ in sent if p == purpose and t - cap.window < s <= t]
            assert len(in_window) <= cap.limit
