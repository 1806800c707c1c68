"""`frontdesk apply -f FILE`: validate a YAML file of clinics, diff it against what is live, publish.

Nothing is published unless every clinic in the file is valid. What is live is read back from the
compacted `clinic.configured` topic itself (the latest record per clinic), so the diff shows what
the services really see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from frontdesk.common.cloudevents import MalformedEvent, decode, encode
from frontdesk.common.contracts import ClinicConfig, ClinicConfigured, vendor_topics
from frontdesk.common.kafka import KafkaSecurity, ensure_topics, make_producer, make_reader, topic_partitions

SOURCE = "frontdesk/cli"


class InvalidClinicFile(Exception):
    pass


def load_clinics(path: Path) -> list[ClinicConfig]:
    """Parse and validate every clinic; raise InvalidClinicFile listing every problem found."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidClinicFile(f"{path}: cannot read YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("clinics"), list):
        raise InvalidClinicFile(f"{path}: expected a mapping with a list under 'clinics'")
    clinics: list[ClinicConfig] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["clinics"]):
        label = raw.get("clinic_id", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        try:
            clinic = ClinicConfig.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in err["loc"]) or "<clinic>"
                problems.append(f"clinic {label}: {where}: {err['msg']}")
            continue
        if clinic.clinic_id in seen:
            problems.append(f"clinic {label}: clinic_id appears more than once")
        seen.add(clinic.clinic_id)
        clinics.append(clinic)
    if problems:
        raise InvalidClinicFile("\n".join(problems))
    return clinics


async def live_clinics(bootstrap: str) -> dict[str, ClinicConfig]:
    """The latest configuration per clinic on the compacted topic."""
    topic = ClinicConfigured.event_type
    consumer = make_reader(bootstrap, "frontdesk-apply")
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        live: dict[str, ClinicConfig] = {}
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    try:
                        event = decode(record.topic, record.value, record.headers).data
                    except MalformedEvent:
                        continue
                    assert isinstance(event, ClinicConfigured)
                    live[event.clinic_id] = event.config
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return live
    finally:
        await consumer.stop()


@dataclass
class Change:
    clinic_id: str
    kind: str  # "new", "changed", "unchanged", "live only"
    fields: list[str]


def diff(wanted: list[ClinicConfig], live: dict[str, ClinicConfig]) -> list[Change]:
    changes: list[Change] = []
    for clinic in wanted:
        current = live.get(clinic.clinic_id)
        if current is None:
            changes.append(Change(clinic.clinic_id, "new", []))
            continue
        a: dict[str, Any] = json.loads(current.model_dump_json())
        b: dict[str, Any] = json.loads(clinic.model_dump_json())
        fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        changes.append(Change(clinic.clinic_id, "changed" if fields else "unchanged", fields))
    wanted_ids = {c.clinic_id for c in wanted}
    changes += [Change(cid, "live only", []) for cid in sorted(live) if cid not in wanted_ids]
    return changes


async def publish(bootstrap: str, clinics: list[ClinicConfig], security: KafkaSecurity | None = None) -> None:
    producer = make_producer(bootstrap, client_id="frontdesk-cli", security=security)
    await producer.start()
    try:
        for clinic in clinics:
            record = encode(ClinicConfigured(clinic_id=clinic.clinic_id, config=clinic), source=SOURCE)
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def ensure_vendor_topics(bootstrap: str, clinics: list[ClinicConfig]) -> list[str]:
    """Create the per-vendor topics (vendor.<id>.calls, vendor.<id>.events and its .dlq) the clinics'
    phone sections name.

    They come from configuration, not the static registry; call-router creates missing ones too."""
    vendor_ids = sorted({v.vendor_id for c in clinics for v in c.phone.effective_vendors()})
    return await ensure_topics(bootstrap, [topic for v in vendor_ids for topic in vendor_topics(v)])


async def apply_file(path: Path, bootstrap: str, dry_run: bool = False) -> list[Change]:
    wanted = load_clinics(path)
    changes = diff(wanted, await live_clinics(bootstrap))
    to_publish = {c.clinic_id for c in changes if c.kind in ("new", "changed")}
    if not dry_run and to_publish:
        await ensure_vendor_topics(bootstrap, wanted)
        await publish(bootstrap, [c for c in wanted if c.clinic_id in to_publish])
    return changes


def describe(changes: list[Change], dry_run: bool) -> str:
    verb = "would publish" if dry_run else "published"
    lines = []
    for c in changes:
        if c.kind == "new":
            lines.append(f"+ {c.clinic_id}: new ({verb})")
        elif c.kind == "changed":
            lines.append(f"~ {c.clinic_id}: {', '.join(c.fields)} changed ({verb})")
        elif c.kind == "unchanged":
            lines.append(f"= {c.clinic_id}: unchanged")
        else:
            lines.append(f"? {c.clinic_id}: live but not in this file (left as it is)")
    return "\n".join(lines)
