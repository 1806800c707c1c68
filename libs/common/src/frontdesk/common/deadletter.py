"""The dead-letter record of a record a consumer gives up on: it always fits its `<topic>.dlq`.

A dead letter carries the original key, value and headers, and `dlq_*` headers saying why and where
the original is. A hostile or compressed record can be larger uncompressed than the dead-letter
topic accepts, and a dead letter that cannot be written would hold its partition forever, so:
- an original header over HEADER_COPY_BYTES (its name and value) is left out, and all of them are
  when together they exceed HEADERS_COPY_BYTES;
- the key is left out when over HEADER_COPY_BYTES, the value when the copy would exceed COPY_BYTES;
- what was left out is named in `dlq_omitted` (with the original sizes in `dlq_original_bytes`);
  `dlq_source_topic`, `dlq_source_partition` and `dlq_source_offset` still find the original,
  which its topic keeps for its retention (a week).
If the topic still refuses the copy (created with a smaller limit), `minimal` is all that is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .cloudevents import Headers

COPY_BYTES = 1024 * 1024  # the source topics' own limit; dead-letter topics take twice that
HEADER_COPY_BYTES = 1024
HEADERS_COPY_BYTES = 64 * 1024
REASON_CHARS = 500


@dataclass(frozen=True)
class Origin:
    """Where the original record is, and who gave up on it after how many attempts."""

    topic: str
    partition: int
    offset: int
    group: str
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    copied: Headers  # the original headers kept
    ours: Headers  # the dlq_* headers

    @property
    def headers(self) -> Headers:
        return [*self.copied, *self.ours]

    def minimal(self) -> DeadLetter:
        """Only the `dlq_*` headers: the reason and where the original is."""
        ours = [(k, v) for k, v in self.ours if k != "dlq_omitted"]
        return DeadLetter(None, None, [], [*ours, ("dlq_omitted", b"key,value,headers")])


def _size(header: tuple[str, bytes | None]) -> int:
    return len(header[0].encode()) + len(header[1] or b"")


def dead_letter(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]], reason: str, origin: Origin
) -> DeadLetter:
    """The dead letter of one record: as much of it as fits, and why it was given up."""
    original = f"key={len(key or b'')} value={len(value or b'')} headers={sum(_size(h) for h in headers)}"
    omitted: list[str] = []
    kept = [(k, v or b"") for k, v in headers if _size((k, v)) <= HEADER_COPY_BYTES]
    if len(kept) < len(headers):
        omitted.append(f"headers over {HEADER_COPY_BYTES} bytes")
    if sum(_size(h) for h in kept) > HEADERS_COPY_BYTES:
        kept = []
        omitted.append("headers")
    if key is not None and len(key) > HEADER_COPY_BYTES:
        key = None
        omitted.append("key")
    if value is not None and len(value) + len(key or b"") + sum(_size(h) for h in kept) > COPY_BYTES:
        value = None
        omitted.append("value")
    ours: Headers = [
        ("dlq_reason", reason[:REASON_CHARS].encode()),
        ("dlq_source_topic", origin.topic.encode()),
        ("dlq_source_partition", str(origin.partition).encode()),
        ("dlq_source_offset", str(origin.offset).encode()),
        ("dlq_consumer_group", origin.group.encode()),
        ("dlq_attempts", str(origin.attempts).encode()),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    if omitted:
        ours += [("dlq_omitted", ",".join(omitted).encode()), ("dlq_original_bytes", original.encode())]
    return DeadLetter(key, value, kept, ours)
