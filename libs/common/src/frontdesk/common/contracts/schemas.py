"""JSON Schema export of every event contract in the registry.

Each event type gets one file, `<event_type>.v<version>.json`, holding the pydantic model's JSON
Schema plus the facts a non-Python producer needs: `$id` (the same URN that travels in the
`ce_dataschema` header), `x-topic` (null when the type has no shared topic), `x-topic-patterns` (the
per-vendor topics it may travel on, as regexes, when there are any) and `x-record-key`. The files
live in `libs/common/schemas/` and are committed; a unit test fails when they drift from the models.

    python -m frontdesk.common.contracts.schemas --write   # regenerate (make schemas)
    python -m frontdesk.common.contracts.schemas --check   # exit 1 if stale, missing or extra
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from frontdesk.common.cloudevents import dataschema

from .registry import EVENTS

# libs/common/src/frontdesk/common/contracts/schemas.py -> libs/common/schemas
SCHEMA_DIR = Path(__file__).resolve().parents[4] / "schemas"
_SUFFIX = ".json"


def schema_filename(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}{_SUFFIX}"


def render_schemas() -> dict[str, str]:
    """filename -> JSON text, for every event type in the registry."""
    out: dict[str, str] = {}
    for event_type, spec in EVENTS.items():
        model = spec.model
        schema = model.model_json_schema()
        schema["$id"] = dataschema(event_type, model.version)
        schema["x-topic"] = spec.topic.name if spec.topic is not None else None
        if spec.patterns:
            schema["x-topic-patterns"] = list(spec.patterns)
        schema["x-record-key"] = model.key_field
        out[schema_filename(event_type, model.version)] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def compare(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems with the files in `directory` against render_schemas(); empty when up to date."""
    expected = render_schemas()
    present = {p.name for p in directory.glob(f"*{_SUFFIX}")} if directory.is_dir() else set()
    problems: list[str] = []
    for name, text in sorted(expected.items()):
        if name not in present:
            problems.append(f"missing: {name}")
        elif (directory / name).read_text(encoding="utf-8") != text:
            problems.append(f"stale: {name}")
    problems.extend(f"extra: {name}" for name in sorted(present - expected.keys()))
    return problems


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write every schema file, remove files of event types that no longer exist; return changes."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = render_schemas()
    changes: list[str] = []
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changes.append(f"wrote: {name}")
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        if path.name not in expected:
            path.unlink()
            changes.append(f"removed: {path.name}")
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m frontdesk.common.contracts.schemas",
        description="Export the event contracts as JSON Schema files.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"write the schema files into {SCHEMA_DIR}")
    mode.add_argument("--check", action="store_true", help="exit 1 if any schema file is stale, missing or extra")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.write:
        changes = write(directory)
        for line in changes:
            print(line)
        print(f"{len(render_schemas())} schema files in {directory} ({len(changes)} changed)")
        return 0
    problems = compare(directory)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print("schema files are out of date: run `make schemas`", file=sys.stderr)
        return 1
    print(f"schema files in {directory} are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
