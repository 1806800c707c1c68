"""`frontdesk apply -f FILE`: validate a YAML file of clinics, diff it against what is live, publish.

The file holds `clinics:` and, optionally, `network:` (the network-wide settings: `fallback`, the
answering service that takes calls for a clinic the router has no configuration for; its vendors
must be vendors of the network's clinics, in the file or live). Nothing is published unless every
part of the file is valid. What is live is read back from the compacted `clinic.configured` and
`network.configured` topics themselves (the newest record per key, by CloudEvents time, as the
services keep it: frontdesk.common.clinics), so the diff shows what the services really see. A change
is stamped later than the live record it replaces, so a clock running behind never makes it look older.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from frontdesk.common.cloudevents import Envelope, MalformedEvent, decode, encode
from frontdesk.common.contracts import ClinicConfig, ClinicConfigured, Event, NetworkConfigured, vendor_topics
from frontdesk.common.kafka import KafkaSecurity, ensure_topics, make_producer, make_reader, topic_partitions

SOURCE = "frontdesk/cli"


class InvalidClinicFile(Exception):
    pass


NETWORK = "(network)"  # the network document's line in a diff (not a valid clinic id)


def _document(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidClinicFile(f"{path}: cannot read YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("clinics", []), list):
        raise InvalidClinicFile(f"{path}: expected a mapping with a list under 'clinics'")
    if "clinics" not in document and "network" not in document:
        raise InvalidClinicFile(f"{path}: expected a list under 'clinics' (and/or a 'network' section)")
    unknown = sorted(set(document) - {"clinics", "network"})
    if unknown:
        raise InvalidClinicFile(f"{path}: unknown top-level keys {unknown} (expected 'clinics' and 'network')")
    return document


def load_network(path: Path) -> NetworkConfigured | None:
    """The file's `network:` section (None when it has none: what is live is left as it is)."""
    raw = _document(path).get("network")
    if raw is None:
        return None
    try:
        return NetworkConfigured.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"]) or "<network>"
            problems.append(f"network: {where}: {err['msg']}")
        raise InvalidClinicFile("\n".join(problems)) from None


def check_fallback(network: NetworkConfigured, clinics: list[ClinicConfig]) -> list[str]:
    """The fallback's vendors must be vendors some clinic of the network uses: a typo would send every
    call of an unknown clinic to a vendor nobody staffs."""
    if network.fallback is None:
        return []
    known = sorted({v.vendor_id for c in clinics for v in c.phone.effective_vendors()})
    problems = []
    for field in ("answering_service", "secondary_answering_service"):
        vendor_id = getattr(network.fallback, field)
        if vendor_id is not None and vendor_id not in known:
            problems.append(
                f"network: fallback.{field}: unknown vendor {vendor_id!r}: no clinic uses it"
                f" (the clinics' vendors: {', '.join(known) or 'none'})"
            )
    return problems


def load_clinics(path: Path) -> list[ClinicConfig]:
    """Parse and validate every clinic; raise InvalidClinicFile listing every problem found."""
    document = _document(path)
    document.setdefault("clinics", [])
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


@dataclass(frozen=True)
class LiveClinic:
    config: ClinicConfig
    configured_at: datetime  # its record's CloudEvents time


async def live_clinics(bootstrap: str) -> dict[str, LiveClinic]:
    """The newest configuration per clinic on the compacted topic."""
    live = await _latest(bootstrap, ClinicConfigured.event_type)
    return {
        key: LiveClinic(envelope.data.config, envelope.time)
        for key, envelope in live.items()
        if isinstance(envelope.data, ClinicConfigured)
    }


async def live_network(bootstrap: str) -> NetworkConfigured | None:
    """The network document on its compacted topic (None: never published)."""
    live = await _latest(bootstrap, NetworkConfigured.event_type)
    return next((e.data for e in live.values() if isinstance(e.data, NetworkConfigured)), None)


async def _latest(bootstrap: str, topic: str) -> dict[str, Envelope[Event]]:
    """The newest event per record key on a compacted topic (by CloudEvents time: after partitions
    were added, a key's older record stays on its old partition)."""
    consumer = make_reader(bootstrap, "frontdesk-apply")
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        live: dict[str, Envelope[Event]] = {}
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    try:
                        envelope = decode(record.topic, record.value, record.headers)
                    except MalformedEvent:
                        continue
                    key = envelope.data.record_key()
                    if key not in live or live[key].time <= envelope.time:
                        live[key] = envelope
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


def diff(wanted: list[ClinicConfig], live: Mapping[str, ClinicConfig]) -> list[Change]:
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


def diff_network(wanted: NetworkConfigured | None, live: NetworkConfigured | None) -> list[Change]:
    if wanted is None:
        return [] if live is None else [Change(NETWORK, "live only", [])]
    if live is None:
        return [Change(NETWORK, "new", [])]
    a, b = live.model_dump(mode="json"), wanted.model_dump(mode="json")
    fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return [Change(NETWORK, "changed" if fields else "unchanged", fields)]


async def publish(
    bootstrap: str,
    clinics: list[ClinicConfig],
    security: KafkaSecurity | None = None,
    network: NetworkConfigured | None = None,
    replacing: Mapping[str, datetime] | None = None,
) -> None:
    """Publish the network document (if given) and the clinics; a clinic's record is stamped later
    than `replacing[clinic_id]`, the time of the live record it replaces."""
    events: list[Event] = [ClinicConfigured(clinic_id=c.clinic_id, config=c) for c in clinics]
    producer = make_producer(bootstrap, client_id="frontdesk-cli", security=security)
    await producer.start()
    try:
        for event in [*([network] if network is not None else []), *events]:
            record = encode(event, source=SOURCE, time=_after((replacing or {}).get(event.record_key())))
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


def _after(live: datetime | None) -> datetime:
    """Now, or just after the live record's time when that is ahead of this machine's clock."""
    now = datetime.now(UTC)
    return now if live is None or live < now else live + timedelta(milliseconds=1)


async def ensure_vendor_topics(
    bootstrap: str, clinics: list[ClinicConfig], network: NetworkConfigured | None = None
) -> list[str]:
    """Create the per-vendor topics (vendor.<id>.calls, vendor.<id>.events and its .dlq) the clinics'
    phone sections and the network fallback name.

    They come from configuration, not the static registry; call-router creates missing ones too."""
    vendor_ids = {v.vendor_id for c in clinics for v in c.phone.effective_vendors()}
    if network is not None and network.fallback is not None:
        vendor_ids.update(network.fallback.vendor_ids())
    return await ensure_topics(bootstrap, [topic for v in sorted(vendor_ids) for topic in vendor_topics(v)])


async def ensure_network(bootstrap: str, network: NetworkConfigured) -> bool:
    """Publish `network` unless a network document is live already (an operator's own is kept);
    True if it was published. The local stack configures its fallback this way (`make up`)."""
    if await live_network(bootstrap) is not None:
        return False
    await ensure_vendor_topics(bootstrap, [], network)
    await publish(bootstrap, [], network=network)
    return True


async def apply_file(path: Path, bootstrap: str, dry_run: bool = False) -> list[Change]:
    wanted = load_clinics(path)
    network = load_network(path)
    live_records = await live_clinics(bootstrap)
    live = {clinic_id: record.config for clinic_id, record in live_records.items()}
    if network is not None:
        problems = check_fallback(
            network, [*wanted, *(c for cid, c in live.items() if cid not in {w.clinic_id for w in wanted})]
        )
        if problems:
            raise InvalidClinicFile("\n".join(problems))
    changes = diff(wanted, live)
    network_changes = diff_network(network, await live_network(bootstrap))
    to_publish = {c.clinic_id for c in changes if c.kind in ("new", "changed")}
    publish_network = any(c.kind in ("new", "changed") for c in network_changes)
    if not dry_run and (to_publish or publish_network):
        await ensure_vendor_topics(bootstrap, wanted, network)
        await publish(
            bootstrap,
            [c for c in wanted if c.clinic_id in to_publish],
            network=network if publish_network else None,
            replacing={clinic_id: record.configured_at for clinic_id, record in live_records.items()},
        )
    return network_changes + changes


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
