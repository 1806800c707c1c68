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

A claim also keeps a digest of the event's content. A repeat whose content differs is no repeat but
another event under a reused source and id (a careless or hostile producer): `seen` raises ReusedId,
and the consumer dead-letters it instead of dropping it. Only a repeat pays the round trip that
compares: a new event's claim is the same statement, with one more column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .cloudevents import Envelope, MalformedEvent, echo
from .contracts import Event
from .db import Connection

DIGEST_BYTES = 16
CLAIM_PARAMETERS = 4  # consumer, event source, event id, digest


def digest(envelope: Envelope[Event]) -> bytes:
    """What makes two records with one source and id the same event: its type and its data, as the
    contract reads them (validated, then written out in the model's field order), so that a producer's
    retry that serialises the same event again (other whitespace, key order, time offset notation)
    is still a repeat. The envelope's transport details are left out: `time` (a retry may stamp the
    send time anew), `traceparent` (a retry is a new span), the dataschema and content type (checked
    by decoding) and the topic (a vendor's own topic is already in the inbox source)."""
    content = hashlib.blake2b(envelope.type.encode(), digest_size=DIGEST_BYTES)
    content.update(b"\n")
    content.update(envelope.data.model_dump_json().encode())
    return content.digest()


def claim_sql(n: int) -> str:
    """Claim an event, with parameters $n..$n+3 (consumer, event source, event id, digest): one row
    when claimed now, none when the event was processed before."""
    return (
        f"INSERT INTO inbox (consumer, event_source, event_id, digest) VALUES (${n}, ${n + 1}, ${n + 2}, ${n + 3})"
        " ON CONFLICT DO NOTHING RETURNING 1"
    )


def claiming(statement: str, n: int) -> str:
    """`statement` (a query returning one row) that also claims the event, with parameters
    $n..$n+3, and says whether it did in the column `claimed`. Both run in one snapshot."""
    claimed = "EXISTS (SELECT 1 FROM claimed) AS claimed"
    return f"WITH claimed AS ({claim_sql(n)}) SELECT {claimed}, s.* FROM ({statement}) s"


@dataclass(frozen=True)
class Claim:
    """The inbox row a unit of work writes for the event it handles."""

    consumer: str
    event_source: str
    event_id: str
    digest: bytes

    @classmethod
    def of(cls, consumer: str, envelope: Envelope[Event]) -> Claim:
        return cls(consumer, envelope.inbox_source, envelope.id, digest(envelope))

    def args(self) -> tuple[str, str, str, bytes]:
        return (self.consumer, self.event_source, self.event_id, self.digest)


class AlreadyProcessed(Exception):
    """The event's inbox row already exists: this was a repeat, and its transaction rolls back."""


class ReusedId(MalformedEvent):
    """An event processed before had this source and id but other content: no retry makes this record
    a repeat, so it is dead-lettered. The reason names the source and id only (no content)."""

    def __init__(self, event_source: str, event_id: str) -> None:
        super().__init__(
            f"event id reused for other content: source {echo(event_source)} id {echo(event_id)} was processed"
            " before with other data; a new event needs a new id"
        )


async def seen(conn: Connection, claim: Claim) -> bool:
    """Whether the claim's event was processed before (its inbox row is committed). Raises ReusedId
    if what was processed under its source and id had other content (a row claimed before digests
    were kept has none: a silent repeat)."""
    found = await conn.fetchrow(
        "SELECT digest FROM inbox WHERE consumer = $1 AND event_source = $2 AND event_id = $3",
        claim.consumer,
        claim.event_source,
        claim.event_id,
    )
    if found is None:
        return False
    if found["digest"] is not None and found["digest"] != claim.digest:
        raise ReusedId(claim.event_source, claim.event_id)
    return True


async def claim_many(conn: Connection, claims: list[Claim]) -> set[tuple[str, str]]:
    """Claim several events (one consumer's) in one statement, in a sorted order (two transactions
    claiming overlapping events wait for each other, never in a cycle); returns the (event source,
    event id) of those claimed now. One claimed by a transaction not committed yet waits for it:
    claimed by neither twice. Raises ReusedId if one was processed before with other content (in
    a second statement, only when some were processed before)."""
    rows = await conn.fetch(
        "INSERT INTO inbox (consumer, event_source, event_id, digest)"
        " SELECT $1, s, i, d FROM unnest($2::text[], $3::text[], $4::bytea[]) AS e(s, i, d) ORDER BY s, i"
        " ON CONFLICT DO NOTHING RETURNING event_source, event_id",
        claims[0].consumer if claims else "",
        [c.event_source for c in claims],
        [c.event_id for c in claims],
        [c.digest for c in claims],
    )
    claimed = {(r["event_source"], r["event_id"]) for r in rows}
    repeats = [c for c in claims if (c.event_source, c.event_id) not in claimed]
    if repeats:
        stored = await conn.fetch(
            "SELECT event_source, event_id, digest FROM inbox WHERE consumer = $1"
            " AND (event_source, event_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
            repeats[0].consumer,
            [c.event_source for c in repeats],
            [c.event_id for c in repeats],
        )
        kept = {(r["event_source"], r["event_id"]): r["digest"] for r in stored}
        for c in repeats:
            if kept.get((c.event_source, c.event_id)) not in (None, c.digest):
                raise ReusedId(c.event_source, c.event_id)
    return claimed
