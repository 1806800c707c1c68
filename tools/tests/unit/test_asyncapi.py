"""The AsyncAPI documents: fresh, valid against the official AsyncAPI 3.0 JSON schema, true to the
registry and deploy/access.yaml, and served by each service on its operations port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from frontdesk.common.contracts import EVENTS, VENDOR_CALLS_TOPIC, VENDOR_EVENTS_TOPIC
from frontdesk.common.service import ServiceDefinition, ServiceRuntime
from frontdesk.common.settings import ServiceSettings
from frontdesk.tools import asyncapi
from frontdesk.tools.access import access_file
from frontdesk.tools.stack import SERVICES, repo_root

# Installed by `make test-tools` (run by `make test` and .ci/run) from npm's @asyncapi/specs.
OFFICIAL_SCHEMA = repo_root() / ".venv" / "npm" / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
DOCUMENTS = [*SERVICES, asyncapi.VENDOR]


def _document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((asyncapi.docs_dir() / f"{name}.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not OFFICIAL_SCHEMA.is_file():
        pytest.fail(f"the AsyncAPI 3.0 JSON schema is not installed ({OFFICIAL_SCHEMA}): run `make test-tools`")
    return jsonschema.Draft7Validator(json.loads(OFFICIAL_SCHEMA.read_text()))


def test_documents_are_fresh() -> None:
    assert asyncapi.problems() == [], "run `make asyncapi`"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_documents_are_valid_asyncapi_3(name: str, validator: jsonschema.Draft7Validator) -> None:
    document = _document(name)
    assert document["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_official_schema_catches_a_broken_document(validator: jsonschema.Draft7Validator) -> None:
    document = _document("call-router")
    operation = next(iter(document["operations"].values()))
    operation["action"] = "eat"
    channel = next(iter(document["channels"].values()))
    channel["bindings"]["kafka"]["partitions"] = "six"
    assert len(list(validator.iter_errors(document))) == 2


def _operations(document: dict[str, Any], action: str) -> dict[str, set[str]]:
    """channel address -> event types, for the operations of `action`."""
    out: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        for ref in channel["messages"].values():
            message = document["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            out.setdefault(channel["address"], set()).add(message["name"])
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_document_says_what_access_yaml_grants(service: str) -> None:
    spec = yaml.safe_load(access_file().read_text())["services"][service]
    document = _document(service)
    received, sent = _operations(document, "receive"), _operations(document, "send")
    shared = {a: types for a, types in received.items() if not a.startswith("vendor.")}
    assert shared == {t: {t} for t in spec["consumes"]}
    assert {t for a, types in sent.items() if not a.startswith("vendor.") for t in types} == set(spec["produces"])
    for operation in document["operations"].values():
        if operation["action"] == "receive":
            assert operation["bindings"]["kafka"]["groupId"]["enum"] == [spec["group"]]


def test_the_router_reads_and_writes_every_vendors_topics_as_a_parameter() -> None:
    document = _document("call-router")
    received, sent = _operations(document, "receive"), _operations(document, "send")
    on_events = {t for t, s in EVENTS.items() if VENDOR_EVENTS_TOPIC in s.patterns}
    on_calls = {t for t, s in EVENTS.items() if VENDOR_CALLS_TOPIC in s.patterns}
    assert received["vendor.{vendorId}.events"] == on_events
    assert sent["vendor.{vendorId}.calls"] == on_calls
    for channel in document["channels"].values():
        if channel["address"].startswith("vendor."):
            assert set(channel["parameters"]) == {"vendorId"}
            assert "topic" not in channel["bindings"]["kafka"]


def test_the_vendor_document_is_the_vendors_side() -> None:
    document = _document(asyncapi.VENDOR)
    received, sent = _operations(document, "receive"), _operations(document, "send")
    assert set(received) == {"vendor.{vendorId}.calls"}
    vendor_shared = {t for v in yaml.safe_load(access_file().read_text())["vendors"] for t in v.get("produces", [])}
    assert set(sent) == {"vendor.{vendorId}.events", *vendor_shared}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_messages_carry_cloudevents_headers_key_and_payload(name: str) -> None:
    document = _document(name)
    schemas = document["components"]["schemas"]
    for message in document["components"]["messages"].values():
        model = EVENTS[message["name"]].model
        headers = message["headers"]["properties"]
        assert headers["ce_type"]["const"] == model.event_type
        assert headers["ce_dataschema"]["const"] == f"urn:frontdesk:schema:{model.event_type}:{model.version}"
        assert {"ce_specversion", "ce_id", "ce_source", "ce_type"} <= set(message["headers"]["required"])
        assert model.key_field in message["bindings"]["kafka"]["key"]["description"]
        payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]
        assert set(payload["properties"]) == set(model.model_fields)


def test_a_new_event_type_in_the_registry_reaches_the_documents(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A type added to the registry and to access.yaml is all it takes: `make asyncapi` picks it up."""
    from frontdesk.common.contracts import CallOffered
    from frontdesk.common.contracts.registry import EventSpec, TopicSpec

    class CallWithdrawn(CallOffered):
        event_type = "call.withdrawn"

    monkeypatch.setitem(EVENTS, "call.withdrawn", EventSpec(CallWithdrawn, TopicSpec("call.withdrawn")))
    access = yaml.safe_load(access_file().read_text())
    access["services"]["call-router"]["produces"].append("call.withdrawn")
    access["services"]["followup"]["consumes"].append("call.withdrawn")
    (tmp_path / "access.yaml").write_text(yaml.safe_dump(access))
    monkeypatch.setattr(asyncapi, "access_file", lambda: tmp_path / "access.yaml")
    interfaces = asyncapi.interfaces()
    assert _operations(asyncapi.render(interfaces["call-router"]), "send")["call.withdrawn"] == {"call.withdrawn"}
    assert _operations(asyncapi.render(interfaces["followup"]), "receive")["call.withdrawn"] == {"call.withdrawn"}


@pytest.mark.parametrize(("service", "status"), [("call-router", 200), ("no-such-service", 404)])
async def test_each_service_serves_its_document_on_the_operations_port(service: str, status: int) -> None:
    settings = ServiceSettings(service="t", http_port=18080, ops_port=18081, database_url="postgresql://x@127.0.0.1/x")
    app = ServiceRuntime(ServiceDefinition(name=service, handlers={}), settings).create_asgi()

    async def get(port: int) -> httpx.Response:
        async def on_port(scope, receive, send):  # type: ignore[no-untyped-def]
            await app({**scope, "server": ("127.0.0.1", port)}, receive, send)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=on_port), base_url="http://t") as client:
            return await client.get("/asyncapi.json")

    response = await get(18081)
    assert response.status_code == status
    if status == 200:
        assert response.json() == _document(service)
    assert (await get(18080)).status_code != 200  # never on the public port


def test_the_packaged_copies_are_inside_the_service_packages() -> None:
    for service in SERVICES:
        copy = asyncapi.packaged_copy(service)
        assert copy.is_relative_to(repo_root() / "services" / service / "src")
        assert copy.read_text() == (asyncapi.docs_dir() / f"{service}.json").read_text()
        assert Path(copy).name == "asyncapi.json"
