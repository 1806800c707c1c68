"""AsyncAPI 3.0 documents of each service's Kafka interface (and a vendor's), generated with faststream.

Flow: `interfaces` reads who consumes and produces what from deploy/access.yaml (the file that grants the
Kafka ACLs, checked against the services' code by tests/deploy) and the topics from the contracts registry;
`render` declares each channel on a faststream KafkaBroker that is never started (one subscriber per channel
read, one publisher per channel written, typed by the registry's pydantic models) and takes faststream's
document (servers, security, payload schemas); `_enrich` adds what faststream does not know: one message per
event type with its CloudEvents headers and record key, Kafka bindings (partitions, topic configuration,
consumer group) and the `{vendorId}` parameter of the per-vendor topics.

The documents are committed under docs/asyncapi/ and copied into each service's package, which serves its
own at `/asyncapi.json` on the operations port. `make asyncapi` (part of `make docs`) rewrites them after a
change to the registry or to deploy/access.yaml; a test fails when they are stale or invalid.

    python -m frontdesk.tools.asyncapi --write | --check
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from frontdesk.common.cloudevents import CONTENT_TYPE, SPECVERSION, dataschema
from frontdesk.common.contracts import EVENTS, VENDOR_CALLS_TOPIC, VENDOR_EVENTS_TOPIC
from frontdesk.common.contracts.registry import VENDOR_TOPIC_PARTITIONS, TopicSpec

from .access import access_file
from .stack import MODULES, repo_root

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOCUMENT = "asyncapi.json"  # the name of the packaged copy in each service's package
VENDOR = "vendor"  # docs/asyncapi/vendor.json: what any answering-service vendor reads and writes
# The per-vendor topics (contracts/phone.py patterns) as AsyncAPI channel addresses with a parameter.
VENDOR_ADDRESSES = {VENDOR_CALLS_TOPIC: "vendor.{vendorId}.calls", VENDOR_EVENTS_TOPIC: "vendor.{vendorId}.events"}
VENDOR_PARAMETER = {
    "vendorId": {
        "description": "The answering-service vendor's id, as the clinic configuration names it "
        "(phone.answering_service); letters, digits and . _ : @ -.",
        "examples": ["nightowl-answering"],
    }
}
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Channel:
    """One topic (or per-vendor topic pattern) and the event types a service reads or writes on it."""

    address: str
    event_types: tuple[str, ...]
    topic: TopicSpec | None  # None: a per-vendor topic, named at run time

    @property
    def key(self) -> str:
        return _NAME.sub("_", self.address.replace("{vendorId}", "vendorId"))


@dataclass(frozen=True)
class ServiceInterface:
    name: str
    group: str | None  # the consumer group of a service; a vendor names its own under vendor.<id>.
    receives: tuple[Channel, ...]
    sends: tuple[Channel, ...]


def interfaces() -> dict[str, ServiceInterface]:
    """Each service's interface, and a vendor's, from deploy/access.yaml and the registry."""
    access = yaml.safe_load(access_file().read_text())
    out: dict[str, ServiceInterface] = {}
    for name, spec in access["services"].items():
        grants = [g["operations"] for g in spec.get("topic_prefixes", []) if "vendor.".startswith(g["prefix"])]
        # Read on vendor.: every vendor's vendor.<id>.events by pattern, whatever type a vendor may write there.
        reads = {VENDOR_EVENTS_TOPIC} if any("Read" in ops for ops in grants) else set()
        writes = {VENDOR_CALLS_TOPIC} if any("Write" in ops for ops in grants) else set()
        receives = _channels(spec["consumes"], set()) + _channels(list(EVENTS), reads, shared=False)
        # Write on vendor.: every type the registry puts on vendor.<id>.calls (some have no shared topic).
        sends = _channels(spec["produces"], set()) + _channels(list(EVENTS), writes, shared=False)
        out[name] = ServiceInterface(name, spec["group"], receives, sends)
    # Every vendor has the same rights on its own prefix; `produces` lists the shared topics it may write.
    shared = sorted({t for vendor in access.get("vendors", []) for t in vendor.get("produces", [])})
    out[VENDOR] = ServiceInterface(
        VENDOR,
        None,
        _channels(list(EVENTS), {VENDOR_CALLS_TOPIC}, shared=False),
        _channels(list(EVENTS), {VENDOR_EVENTS_TOPIC}, shared=False) + _channels(shared, set()),
    )
    return out


def _channels(event_types: Iterable[str], patterns: set[str], *, shared: bool = True) -> tuple[Channel, ...]:
    """The channels of `event_types`: their shared topics (if `shared`) and those of their per-vendor
    topics that are in `patterns`."""
    by_address: dict[str, list[str]] = {}
    topics: dict[str, TopicSpec | None] = {}
    for event_type in event_types:
        spec = EVENTS[event_type]
        if shared and spec.topic is not None:
            by_address.setdefault(spec.topic.name, []).append(event_type)
            topics[spec.topic.name] = spec.topic
        for pattern in (p for p in spec.patterns if p in patterns):
            if pattern not in VENDOR_ADDRESSES:
                raise ValueError(f"{event_type}: no AsyncAPI channel address for the topic pattern {pattern!r}")
            address = VENDOR_ADDRESSES[pattern]
            by_address.setdefault(address, []).append(event_type)
            topics[address] = None
    return tuple(Channel(a, tuple(types), topics[a]) for a, types in sorted(by_address.items()))


def render(interface: ServiceInterface, *, bootstrap: str = "localhost:9092") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `interface` (JSON-ready, deterministic)."""
    from faststream.kafka import KafkaBroker
    from faststream.security import SASLScram512
    from faststream.specification import AsyncAPI

    # Specification only: the broker is never started, so it never connects anywhere.
    broker = KafkaBroker(
        bootstrap,
        security=SASLScram512(username="<principal>", password="<password>", use_ssl=True),  # noqa: S106
        description="Kafka with SASL/SCRAM-SHA-512 over TLS outside the local stack (docs/vendors.md).",
    )
    for channel in interface.receives:
        broker.subscriber(
            *([channel.address] if channel.topic is not None else []),
            pattern=None if channel.topic is not None else channel.address,
            group_id=interface.group,
            title=f"receive_{channel.key}",
            description=f"{interface.name} reads {', '.join(channel.event_types)}.",
        )(_handler(channel))
    for channel in interface.sends:
        broker.publisher(
            channel.address,
            title=f"send_{channel.key}",
            description=f"{interface.name} writes {', '.join(channel.event_types)}.",
            schema=_payload_type(channel),
        )
    spec = AsyncAPI(
        broker,
        title=f"Frontdesk {interface.name}",
        version="1.0.0",
        description=_DESCRIPTIONS.get(interface.name, f"The Kafka events {interface.name} reads and writes.")
        + " CloudEvents 1.0 in Kafka binary mode: the attributes are ce_* headers, the record value is the "
        "JSON payload; a shared topic is named after its event type and has a dead-letter twin `<topic>.dlq`.",
        identifier=f"urn:frontdesk:service:{interface.name}",
        schema_version=ASYNCAPI_VERSION,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # two per-vendor channels may share a payload name
        document: dict[str, Any] = spec.to_specification().to_jsonable()
    _enrich(document, interface)
    return document


_DESCRIPTIONS = {
    VENDOR: "What an answering-service vendor reads (the calls and pages handed to it, on its own "
    "vendor.<id>.calls) and writes (answers, messages, pages, heartbeats on its own vendor.<id>.events, and "
    "the shared topics deploy/access.yaml lets it write). Quickstart: docs/vendors.md.",
}


def _payload_type(channel: Channel) -> Any:
    models = tuple(EVENTS[t].model for t in channel.event_types)
    if len(models) == 1:
        return models[0]
    union: Any = models[0]
    for model in models[1:]:
        union = union | model
    return union


def _handler(channel: Channel) -> Any:
    async def handle(event: Any) -> None:  # never called: the broker is never started
        return None

    handle.__annotations__ = {"event": _payload_type(channel), "return": None}
    handle.__name__ = f"receive_{channel.key}"
    return handle


def _enrich(document: dict[str, Any], interface: ServiceInterface) -> None:
    """Replace faststream's per-channel messages and operations with one message per event type (headers,
    key, payload) and add the Kafka bindings and the per-vendor parameter."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    servers = [{"$ref": f"#/servers/{name}"} for name in sorted(document.get("servers", {}))]
    for action, channel_list in (("receive", interface.receives), ("send", interface.sends)):
        for channel in channel_list:
            key = f"{action}_{channel.key}"
            for event_type in channel.event_types:
                messages[_message_name(event_type)] = _message(event_type, schemas)
            channels[key] = _channel(channel, servers)
            operations[key] = _operation(action, key, channel, interface)
    document["channels"] = channels
    document["operations"] = operations
    document["components"]["messages"] = dict(sorted(messages.items()))
    # faststream's own names for the per-channel payloads (`<channel>:Message:Payload`) are replaced above
    document["components"]["schemas"] = {name: s for name, s in sorted(schemas.items()) if ":" not in name}


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def _message(event_type: str, schemas: dict[str, Any]) -> dict[str, Any]:
    model = EVENTS[event_type].model
    title = model.__name__
    if title not in schemas:  # a type faststream saw only inside a union keeps its own name
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[title] = schema
    return {
        "name": event_type,
        "title": title,
        "summary": (model.__doc__ or event_type).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": _cloudevents_headers(event_type, model.version),
        "payload": {"$ref": f"#/components/schemas/{title}"},
        "correlationId": {
            "description": "The CloudEvents id: a consumer's inbox key; a redelivery carries the same id.",
            "location": "$message.header#/ce_id",
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The record key: the event's `{model.key_field}`."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _cloudevents_headers(event_type: str, version: int) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary mode, plus W3C trace context.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPECVERSION},
            "ce_id": {"type": "string", "description": "Unique per event; consumers drop repeats of an id."},
            "ce_source": {"type": "string", "description": "Who wrote it, e.g. frontdesk/call-router."},
            "ce_type": {"type": "string", "const": event_type},
            "ce_time": {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset."},
            "ce_dataschema": {"type": "string", "const": dataschema(event_type, version)},
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            "traceparent": {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
        },
    }


def _channel(channel: Channel, servers: list[dict[str, str]]) -> dict[str, Any]:
    binding: dict[str, Any] = {"bindingVersion": KAFKA_BINDING_VERSION}
    out: dict[str, Any] = {
        "address": channel.address,
        "messages": {_message_name(t): _ref("components", "messages", _message_name(t)) for t in channel.event_types},
        "servers": servers,
    }
    if channel.topic is None:
        out["description"] = "A per-vendor topic: the router creates it when a clinic names the vendor."
        out["parameters"] = VENDOR_PARAMETER
        binding["partitions"] = VENDOR_TOPIC_PARTITIONS
    else:
        config = channel.topic.config()
        binding |= {
            "topic": channel.topic.name,
            "partitions": channel.topic.partitions,
            "topicConfiguration": {
                "cleanup.policy": [config["cleanup.policy"]],
                "retention.ms": int(config["retention.ms"]),
                "max.message.bytes": int(config["max.message.bytes"]),
            },
        }
    out["bindings"] = {"kafka": binding}
    return out


def _operation(action: str, key: str, channel: Channel, interface: ServiceInterface) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/{_message_name(t)}"} for t in channel.event_types],
    }
    if action == "receive" and interface.group is None:
        out["summary"] = "The vendor consumes with a consumer group of its own, named `vendor.<id>.<anything>`."
    elif action == "receive":
        out["summary"] = f"{interface.name} consumes; failures retry, then go to the topic's `.dlq` twin."
        out["bindings"] = {
            "kafka": {"groupId": {"type": "string", "enum": [interface.group]}, "bindingVersion": KAFKA_BINDING_VERSION}
        }
    elif interface.group is None:
        out["summary"] = "The vendor publishes with acks=all; a record the router refuses goes to `<topic>.dlq`."
    else:
        out["summary"] = f"{interface.name} publishes through its transactional outbox (acks=all, idempotent)."
    return out


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# --- the committed documents -----------------------------------------------------------------------------


def docs_dir() -> Path:
    return repo_root() / "docs" / "asyncapi"


def packaged_copy(service: str) -> Path:
    """The copy in the service's own package, which it serves at /asyncapi.json."""
    module = MODULES[service]
    return repo_root() / "services" / service / "src" / Path(*module.split(".")) / DOCUMENT


def expected_files() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for name, interface in interfaces().items():
        text = to_json(render(interface))
        out[docs_dir() / f"{name}.json"] = text
        if name in MODULES:
            out[packaged_copy(name)] = text
    return out


def problems() -> list[str]:
    expected = expected_files()
    found = [f"stale or missing: {p.relative_to(repo_root())}" for p, t in expected.items() if _read(p) != t]
    extra = sorted(set(docs_dir().glob("*.json")) - expected.keys())
    return found + [f"extra: {p.relative_to(repo_root())}" for p in extra]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def write() -> list[str]:
    changed: list[str] = []
    for path, text in expected_files().items():
        if _read(path) != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(str(path.relative_to(repo_root())))
    for path in sorted(set(docs_dir().glob("*.json")) - expected_files().keys()):
        path.unlink()
        changed.append(f"removed {path.relative_to(repo_root())}")
    return changed


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("the AsyncAPI documents are stale: run `make asyncapi`", file=sys.stderr)
        return 1 if found else 0
    for line in write():
        print(f"wrote {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
