"""The README's event catalog, generated from the code's registry and deploy/access.yaml.

Type, record key and partitions come from the contracts registry; producers and consumers from the
declarative access file (the same one that grants the Kafka ACLs), so the table cannot drift from
what the broker allows. `make docs` rewrites the block between the markers; a test fails when stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from frontdesk.common.contracts import EVENTS

from .access import access_file
from .stack import repo_root

START, END = "<!-- event-catalog:start -->", "<!-- event-catalog:end -->"


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
    return producers, consumers


def render() -> str:
    producers, consumers = _parties()
    rows = [
        "| event type (= topic) | version | record key | partitions | producers | consumers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for event_type, spec in EVENTS.items():
        model = spec.model
        name = f"`{event_type}`" + (" (compacted)" if spec.topic.compacted else "")
        rows.append(
            f"| {name} | {model.version} | {model.key_field} | {spec.topic.partitions} "
            f"| {', '.join(producers.get(event_type, [])) or '-'} | {', '.join(consumers.get(event_type, [])) or '-'} |"
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
