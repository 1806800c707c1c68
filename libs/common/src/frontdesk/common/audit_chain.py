"""Verify the audit trail's hash chain (migrations/004_audit_chain.sql), outside the database.

A service's rows form CHAINS chains ('<service>/0' ..), each in chain_seq order: row n stores row
n-1's hash as prev_hash and its own, sha256(prev_hash || content). `verify` reads every chain in that
order, recomputes each hash from the row's columns and checks the links, the sequence, the chain's
head and that every chain of a service has one, so it finds a row that was altered, deleted, or added
with the trigger switched off, whoever did it. It reports the first broken row of each chain.

What it cannot see alone: someone who may write the table as its owner and recomputes every hash
after his change. Keep the head it prints (seq and hash) somewhere else and pass it back as an anchor
(`--anchor`): a chain rewritten before that row no longer matches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

GENESIS = bytes(32)  # the prev_hash of a chain's first row
CHAINS = 8  # per service: the trigger's pg_backend_pid() % 8

# The columns audit.content() hashes, as the same text, in the same order.
_ROWS = """
SELECT id, chain_seq, prev_hash, row_hash, ARRAY[
           chain, service, chain_seq::text, id::text,
           to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           subject, action, method, route, resource::text, clinic_id, status::text, trace_id] AS fields
FROM audit.log WHERE chain = $1 ORDER BY chain_seq, id
"""
_CHAINS = (
    "SELECT chain, seq, row_hash FROM audit.chain_head"
    " UNION SELECT DISTINCT chain, NULL::bigint, NULL::bytea FROM audit.log WHERE chain IS NOT NULL"
)
_UNCHAINED = (
    "SELECT id FROM audit.log WHERE chain IS NULL OR chain_seq IS NULL OR prev_hash IS NULL OR row_hash IS NULL"
    " ORDER BY id"
)


def content(fields: Sequence[str | None]) -> bytes:
    """Each field as UTF-8 with its length in bytes before it, '-' for NULL: what audit.content() makes."""
    out = []
    for field in fields:
        if field is None:
            out.append(b"-")
        else:
            data = field.encode()
            out.append(str(len(data)).encode() + b":" + data)
    return b"".join(out)


def row_hash(prev_hash: bytes, fields: Sequence[str | None]) -> bytes:
    return hashlib.sha256(prev_hash + content(fields)).digest()


@dataclass(frozen=True)
class ChainReport:
    chain: str
    rows: int
    head_seq: int
    head_hash: str  # hex
    broken_row: int | None = None  # audit.log.id of the first broken row (None: the chain itself)
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        if self.intact:
            return f"chain {self.chain}: intact, {self.rows} rows, head {self.head_seq}:{self.head_hash}"
        where = f"row id {self.broken_row}" if self.broken_row is not None else "its head"
        return f"chain {self.chain}: BROKEN at {where} after {self.rows} good rows: {self.problem}"


@dataclass(frozen=True)
class Anchor:
    """A chain's row as an earlier verify printed it: chain:seq:hash."""

    chain: str
    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        chain, seq, digest = text.rsplit(":", 2)
        return cls(chain, int(seq), digest.lower())


async def _verify_chain(
    conn: asyncpg.Connection, chain: str, head: tuple[int, bytes] | None, anchors: Sequence[Anchor]
) -> ChainReport:
    expected_seq, prev = 1, GENESIS
    anchored = {a.seq: a.hash for a in anchors if a.chain == chain}
    rows = 0

    def broken(row_id: int | None, problem: str) -> ChainReport:
        return ChainReport(chain, rows, expected_seq - 1, prev.hex(), row_id, problem)

    async for row in conn.cursor(_ROWS, chain, prefetch=1000):
        seq, row_id = row["chain_seq"], row["id"]
        if seq is None:
            continue  # reported with the unchained rows
        if seq < expected_seq:
            return broken(row_id, f"a second row with chain_seq {seq} (inserted)")
        if seq > expected_seq:
            return broken(row_id, f"rows {expected_seq}..{seq - 1} of the chain are missing (deleted)")
        if bytes(row["prev_hash"]) != prev:
            return broken(row_id, "its prev_hash is not the previous row's hash (a row before it changed or is new)")
        if row_hash(prev, row["fields"]) != bytes(row["row_hash"]):
            return broken(row_id, "its content does not match its hash (altered)")
        prev = bytes(row["row_hash"])
        if anchored.pop(seq, prev.hex()) != prev.hex():
            return broken(row_id, "its hash differs from the anchor (the chain was rewritten up to here)")
        rows, expected_seq = rows + 1, expected_seq + 1
    if head is None:
        return broken(None, "the chain has rows but no head in audit.chain_head")
    if head[0] != expected_seq - 1:
        return broken(None, f"the head names row {head[0]} but the chain ends at row {expected_seq - 1} (deleted)")
    if head[1] != prev:
        return broken(None, "the newest row's hash is not the one its head recorded (altered)")
    if anchored:
        return broken(None, f"the anchored row {min(anchored)} is gone")
    return ChainReport(chain, rows, expected_seq - 1, prev.hex())


async def verify(conn: asyncpg.Connection, anchors: Sequence[Anchor] = ()) -> list[ChainReport]:
    """Every chain of the database's audit.log, read in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        heads: dict[str, tuple[int, bytes] | None] = {}
        for chain, seq, digest in await conn.fetch(_CHAINS):
            if seq is not None:
                heads[chain] = (seq, bytes(digest))
            else:
                heads.setdefault(chain, None)
        reports = [await _verify_chain(conn, chain, heads[chain], anchors) for chain in sorted(heads)]
        unchained = await conn.fetch(_UNCHAINED)
    for service in sorted({chain.rpartition("/")[0] for chain in heads}):
        for chain in (f"{service}/{n}" for n in range(CHAINS)):
            if chain not in heads:
                reports.append(ChainReport(chain, 0, 0, "", None, "the chain's head is gone (deleted)"))
    for chain in sorted({a.chain for a in anchors} - set(heads)):
        reports.append(ChainReport(chain, 0, 0, "", None, "the anchored chain has no rows and no head (deleted)"))
    if unchained:
        first = unchained[0]["id"]
        reports.append(
            ChainReport("(none)", 0, 0, "", first, f"{len(unchained)} row(s) outside every chain (added by hand)")
        )
    return reports
