"""The README's event catalog, generated from the code's registry and deploy/access.yaml.

Type, record key and partitions come from the contracts registry; producers and consumers from the
declarative access file (the same one that grants the Kafka ACLs), so the table cannot drift from
what the broker allows. Types that also (or only) travel on a vendor's own topics say so: each vendor
writes its `vendor.<id>.events` and reads its `vendor.<id>.calls` (its prefix grant), and services
read every `vendor.<id>.events` under a prefix grant with Read. `make docs` rewrites the block
between the markers; a test fails when stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from frontdesk.common.contracts import EVENTS, VENDOR_CALLS_TOPIC, VENDOR_EVENTS_TOPIC
from frontdesk.common.contracts.registry import VENDOR_TOPIC_PARTITIONS

from .access import access_file
from .stack import repo_root

START, END = "<!-- event-catalog:start -->", "<!-- event-catalog:end -->"
VENDOR_TOPICS = {VENDOR_CALLS_TOPIC: "vendor.<id>.calls", VENDOR_EVENTS_TOPIC: "vendor.<id>.events"}
EACH_VENDOR = "each vendor (own topic)"


def _parties() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    access = yaml.safe_load(access_file().read_text())
    producers: dict[str, list[str]] = {}
    consumers: dict[str, list[str]] = {}
    parties = [(name, spec) for name, spec in access.get("services", {}).items()]
    parties += [(f"vendor {v['id']}", v) for v in access.get("vendors", [])]
    parties += [(name, spec) for name, spec in access.get("clients", {}).items()]
    for name, spec in parties:
        for topic in spec.get("produces", []):
            producers.setdefault(topic, []).append(name)
        for topic in spec.get("consumes", []):
            consumers.setdefault(topic, []).append(name)
    # Read on a prefix that covers vendor.: reads the vendors' own event topics (a pattern); Write:
    # writes the vendors' own call topics.
    for name, spec in access.get("services", {}).items():
        grants = [g for g in spec.get("topic_prefixes", []) if "vendor.".startswith(g["prefix"])]
        if any("Read" in g["operations"] for g in grants):
            consumers.setdefault(VENDOR_EVENTS_TOPIC, []).append(name)
        if any("Write" in g["operations"] for g in grants):
            producers.setdefault(VENDOR_CALLS_TOPIC, []).append(name)
    producers[VENDOR_EVENTS_TOPIC] = [EACH_VENDOR]
    consumers[VENDOR_CALLS_TOPIC] = [EACH_VENDOR]
    return producers, consumers


def render() -> str:
    producers, consumers = _parties()
    rows = [
        "| event type (= topic) | version | record key | partitions | producers | consumers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for event_type, spec in EVENTS.items():
        model = spec.model
        name = f"`{event_type}`" + (" (compacted)" if spec.topic is not None and spec.topic.compacted else "")
        if spec.patterns:
            where = ", ".join(f"`{VENDOR_TOPICS[p]}`" for p in spec.patterns)
            name += f" (also on {where})" if spec.topic is not None else f" (only on {where})"
        partitions = spec.topic.partitions if spec.topic is not None else VENDOR_TOPIC_PARTITIONS
        writers = dict.fromkeys(
            [*producers.get(event_type, []), *(w for p in spec.patterns for w in producers.get(p, []))]
        )
        readers = dict.fromkeys(
            [*consumers.get(event_type, []), *(r for p in spec.patterns for r in consumers.get(p, []))]
        )
        rows.append(
            f"| {name} | {model.version} | {model.key_field} | {partitions} "
            f"| {', '.join(writers) or '-'} | {', '.join(readers) or '-'} |"
        )
    return "\n".join(rows)


def updated_readme(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    readme = repo_root() / "README.md"
    current = readme.read_text()
    wanted = updated_readme(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's event catalog is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    Path(readme).write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
