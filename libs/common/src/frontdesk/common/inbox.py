"""Inbox: idempotent consumers. An event's side effects and its inbox row commit together.

The consumer claims an event in the statement that also writes the unit of work's outbox rows and
timers, the last before the commit (uow.flush): one round trip fewer per event than claiming it
first. A repeat of an event already processed therefore runs its handler again, against the state
the first run left, and is then rolled back whole when its claim finds the row (AlreadyProcessed),
or, should the handler fail on that state, recognised by `seen`. Consumer handlers only touch the
database (anything with an outside effect, such as sending a message, runs from a durable timer),
so nothing of a repeat survives its rollback.

A handler whose first statement is on the hot path (call-router's call.answered) claims the event
in that statement instead (`claiming`, UnitOfWork.take_claim): the flush then often has nothing
left to write, and the transaction is one round trip shorter.
"""

from __future__ import annotations

from dataclasses import dataclass

from .db import Connection


def claim_sql(n: int) -> str:
    """Claim an event, with parameters $n..$n+2 (consumer, event source, event id): one row when
    claimed now, none when the event was processed before."""
    return (
        f"INSERT INTO inbox (consumer, event_source, event_id) VALUES (${n}, ${n + 1}, ${n + 2})"
        " ON CONFLICT DO NOTHING RETURNING 1"
    )


def claiming(statement: str, n: int) -> str:
    """`statement` (a query returning one row) that also claims the event, with parameters
    $n..$n+2, and says whether it did in the column `claimed`. Both run in one snapshot."""
    claimed = "EXISTS (SELECT 1 FROM claimed) AS claimed"
    return f"WITH claimed AS ({claim_sql(n)}) SELECT {claimed}, s.* FROM ({statement}) s"


@dataclass(frozen=True)
class Claim:
    """The inbox row a unit of work writes for the event it handles."""

    consumer: str
    event_source: str
    event_id: str

    def args(self) -> tuple[str, str, str]:
        return (self.consumer, self.event_source, self.event_id)


class AlreadyProcessed(Exception):
    """The event's inbox row already exists: this was a repeat, and its transaction rolls back."""


async def seen(conn: Connection, consumer: str, event_source: str, event_id: str) -> bool:
    """Whether `consumer` has processed the event (its inbox row is committed)."""
    found = await conn.fetchval(
        "SELECT 1 FROM inbox WHERE consumer = $1 AND event_source = $2 AND event_id = $3",
        consumer,
        event_source,
        event_id,
    )
    return found is not None


async def claim_many(conn: Connection, consumer: str, events: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Claim several events (event source, event id) in one statement, in a sorted order (two
    transactions claiming overlapping events wait for each other, never in a cycle); returns those
    claimed now. One claimed by a transaction not committed yet waits for it: claimed by neither twice."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_source, event_id)"
        " SELECT $1, s, i FROM unnest($2::text[], $3::text[]) AS e(s, i) ORDER BY s, i"
        " ON CONFLICT DO NOTHING RETURNING event_source, event_id",
        consumer,
        [source for source, _ in events],
        [event_id for _, event_id in events],
    )
    return {(r["event_source"], r["event_id"]) for r in rows}
