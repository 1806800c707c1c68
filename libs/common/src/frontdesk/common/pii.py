"""Personal data: how we recognise it, and where on the bus it may appear at all.

One place for the concept. The log scrubber (`frontdesk.common.logging`) redacts what the detectors
here find; the system tests scan every record on every topic and every service log line with the
same detectors (`scan_records`, `scan_log`) and fail on any finding outside `PERSONAL_DATA_ALLOWLIST`.

Detectors:
- phone numbers: 9-15 digits, optionally with +, spaces, dots, dashes or brackets; dates,
  date-times and UUIDs are recognised first and never taken for phone numbers;
- emails;
- person names: a given name followed by a surname, both capitalised ("Jane Doe", "Mary J. Smith"),
  or an HL7 v2 name ("DOE^JANE"), from the US Census name lists that the `names` package ships
  (`census_names()`);
- personal-data keys: a non-empty value under a key such as `name`, `phone` or `email`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

# Every pattern here runs on hostile text (a record's headers, a request) and must take time linear
# in its length: a match may start only where a run of its characters starts (the look-behind), the
# local part is possessive (never given back), and a phone number's span is bounded. Unanchored,
# `[...]+@` alone retries from every character of a long run: 64 kB of digits took seconds.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Phone numbers: optional +, then 9-15 digits possibly split by spaces, dots, dashes or brackets
# (at most PHONE_MAX_SPAN characters from the first digit to the last: a span tried from each
# start is then bounded, and a longer run of digits is not a phone number).
PHONE_MAX_SPAN = 40
PHONE = re.compile(rf"(?<![\w-])\+?\(?\d[\d\s().-]{{7,{PHONE_MAX_SPAN - 2}}}\d(?![\w-])")
# Dates, date-times ("2026-11-27 10:00:00", as str(datetime) writes them) and UUIDs are matched first
# and kept, so that the digits around them cannot be taken together for a phone number.
_KEEP = (
    r"(?<![\w-])(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?!\d)"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w-]))"
)
KEEP_OR_PHONE = re.compile(f"(?P<keep>{_KEEP})|{PHONE.pattern}")
PHONE_MIN_DIGITS = 9
REDACTED = "[redacted]"  # what the log scrubber writes instead

# Keys whose values are personal data whatever they look like.
PERSONAL_DATA_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "full_name",
        "patient_name",
        "phone",
        "phone_number",
        "email",
        "address",
        "dob",
        "date_of_birth",
        "message_text",
        "body",
        "notes",
    }
)

# Event type -> the payload fields (dotted paths, `[]` for list items and dict values) that may carry
# personal data. Shared topics carry ids, tokens and codes only, so this is all there is: the
# practice's own name (a business name, which may be a physician's, e.g. "Dr Ana Lima Family
# Practice"), never a patient's. Anything else the scan finds on the bus is a leak.
PERSONAL_DATA_ALLOWLIST: Mapping[str, frozenset[str]] = {
    "clinic.configured": frozenset({"config.name", "config.messaging.sender_name"}),
}

Kind = Literal["phone", "email", "name", "personal-data key"]


def is_phone_match(match: re.Match[str]) -> bool:
    """A match of KEEP_OR_PHONE that is a phone number (not a kept date/UUID, enough digits)."""
    return match.group("keep") is None and sum(c.isdigit() for c in match.group()) >= PHONE_MIN_DIGITS


def phone_numbers(text: str) -> list[str]:
    return [m.group().strip() for m in KEEP_OR_PHONE.finditer(text) if is_phone_match(m)]


def emails(text: str) -> list[str]:
    return EMAIL.findall(text)


# A capitalised word ("Jane", "O'Brien", "McDonald"), then optionally a middle initial, then another.
_WORD = r"(?:Ma?c|O')?[A-Z][a-z]+"
_NAME_PAIR = re.compile(rf"(?<![\w-])(?=({_WORD})(?:\s+[A-Z]\.)?\s+({_WORD})(?![\w-]))")
# HL7 v2 person names (XPN): FAMILY^GIVEN, in any case ("DOE^JANE^Q" in a PID segment).
_HL7_NAME = re.compile(r"(?<![\w'])([A-Za-z']+)\^([A-Za-z']+)(?![\w'])")


@dataclass(frozen=True)
class NameList:
    """Given names and surnames (upper case); `find` returns "Given Surname" pairs in a text."""

    given: frozenset[str]
    surnames: frozenset[str]

    def find(self, text: str) -> list[str]:
        found = []
        for match in _NAME_PAIR.finditer(text):
            first, last = match.group(1), match.group(2)
            # The Census lists write O'Brien as OBRIEN.
            if first.upper().replace("'", "") in self.given and last.upper().replace("'", "") in self.surnames:
                found.append(f"{first} {last}")
        for match in _HL7_NAME.finditer(text):
            family, given = (part.upper().replace("'", "") for part in match.groups())
            if family in self.surnames and given in self.given:
                found.append(match.group())
        return found


@cache
def census_names(surnames: int = 5000) -> NameList:
    """Every given name and the `surnames` most common surnames of the US Census lists.

    The lists come with the `names` package (PyPI, a test dependency: requirements-dev.txt). Rare
    surnames are left out on purpose: the long tail holds ordinary words ("Open", "Test").
    """
    package = resources.files("names")

    def first_column(resource: str, limit: int | None = None) -> frozenset[str]:
        lines = package.joinpath(resource).read_text(encoding="utf-8").splitlines()
        return frozenset(line.split()[0] for line in lines[:limit] if line.strip())

    given = first_column("dist.male.first") | first_column("dist.female.first")
    return NameList(given=given, surnames=first_column("dist.all.last", surnames))


def scan_text(text: str, names: NameList | None = None) -> list[tuple[Kind, str]]:
    found: list[tuple[Kind, str]] = [("email", e) for e in emails(text)]
    found += [("phone", p) for p in phone_numbers(EMAIL.sub(" ", text))]
    if names is not None:
        found += [("name", n) for n in names.find(text)]
    return found


def scan_payload(value: Any, names: NameList | None = None, path: str = "") -> Iterator[tuple[str, Kind, str]]:
    """(field path, kind, what) for everything personal in a decoded JSON payload."""
    if isinstance(value, str):
        for kind, text in scan_text(value, names):
            yield path, kind, text
    elif isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            # A scalar under a personal-data key; a section (e.g. a clinic's `phone` settings) is walked.
            scalar = isinstance(item, str | int | float) and not isinstance(item, bool)
            if str(key).lower() in PERSONAL_DATA_KEYS and scalar and item not in ("", REDACTED):
                yield inner, "personal-data key", str(item)
            else:
                yield from scan_payload(item, names, inner)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from scan_payload(item, names, f"{path}[]")


def allowed(event_type: str, path: str) -> bool:
    return path in PERSONAL_DATA_ALLOWLIST.get(event_type, frozenset())


# --- scanning what a system produced -------------------------------------------------------------


class Record(Protocol):
    """What aiokafka's ConsumerRecord has and the scan needs."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True)
class Finding:
    where: str  # "topic/partition@offset field" or "log-file:line"
    kind: Kind
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.text!r}"


# Headers the dead-letter path adds (ours: scanned even on excluded poison records).
_DLQ_HEADER_PREFIX = "dlq_"
DLQ_SUFFIX = ".dlq"


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")


def injected_poison(records: Iterable[Record], service_sources: Iterable[str]) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of the records a test injected that were dead-lettered, both copies.

    A record counts as injected poison only if a service dead-lettered it (a `.dlq` record points at
    it) AND it does not carry the CloudEvents source of one of our services. Such a record is the
    test's own input (malformed on purpose, often with phone-like strings, to prove the reason does
    not echo it); what a service wrote about it (the `dlq_*` headers) is still scanned.
    """
    ours = set(service_sources)
    poison: set[tuple[str, int, int]] = set()
    for record in records:
        if not record.topic.endswith(DLQ_SUFFIX):
            continue
        headers = {k: _text(v) for k, v in record.headers}
        if headers.get("ce_source") in ours:
            continue
        poison.add((record.topic, record.partition, record.offset))
        try:
            partition, offset = int(headers["dlq_source_partition"]), int(headers["dlq_source_offset"])
            origin = (headers["dlq_source_topic"], partition, offset)
        except (KeyError, ValueError):
            continue
        poison.add(origin)
    return poison


def scan_records(records: Sequence[Record], names: NameList | None, service_sources: Iterable[str]) -> list[Finding]:
    """Every finding in keys, headers and payloads outside the allowlist, injected poison aside."""
    poison = injected_poison(records, service_sources)
    findings: list[Finding] = []
    for record in records:
        at = f"{record.topic}/{record.partition}@{record.offset}"
        is_poison = (record.topic, record.partition, record.offset) in poison
        event_type = record.topic.removesuffix(DLQ_SUFFIX)
        for name, raw in record.headers:
            if is_poison and not name.startswith(_DLQ_HEADER_PREFIX):
                continue
            findings += [Finding(f"{at} header {name}", k, t) for k, t in scan_text(_text(raw), names)]
        if is_poison:
            continue
        findings += [Finding(f"{at} key", k, t) for k, t in scan_text(_text(record.key), names)]
        try:
            payload = json.loads(record.value or b"null")
        except ValueError:
            findings += [Finding(f"{at} value", k, t) for k, t in scan_text(_text(record.value), names)]
            continue
        for path, kind, text in scan_payload(payload, names):
            if not allowed(event_type, path):
                findings.append(Finding(f"{at} field {path or '(value)'}", kind, text))
    return findings


def scan_log(name: str, lines: Iterable[str], names: NameList | None) -> list[Finding]:
    """Findings in log lines. A JSON line is scanned value by value, as the scrubber sees it (so a
    float's digits are not taken for a phone number, and a personal-data key is caught); any other
    line (a traceback on stderr, say) as text."""
    findings: list[Finding] = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            found = [(f" {path}", kind, text) for path, kind, text in scan_payload(entry, names)]
        else:
            found = [("", kind, text) for kind, text in scan_text(line, names)]
        findings += [Finding(f"{name}:{number}{path}", kind, text) for path, kind, text in found]
    return findings
