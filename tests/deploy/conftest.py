"""Shared pieces of the deployment tests: rendering overlays with kustomize, the vendored CRD schemas,
the generator module and the code's view of each service. Everything here is offline."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("dev", "prod")
# Extra renderings of the optional components, so every component is validated and checked.
VARIANTS: dict[str, dict[str, Any]] = {
    "base+hpa-cpu+network-policies": {
        "resources": ["{k8s}/base"],
        "components": ["{k8s}/components/hpa-cpu", "{k8s}/components/network-policies"],
    },
    # The scheduler's MLLP listener (services/scheduler/README.md), with prod's NetworkPolicies.
    "prod+hl7-mllp": {
        "resources": ["{k8s}/overlays/prod"],
        "components": ["{k8s}/components/hl7-mllp"],
    },
    # What an operator applies during an incident (docs/operations.md), validated like the rest.
    "prod+break-glass": {
        "resources": ["{k8s}/overlays/prod"],
        "components": ["{k8s}/components/break-glass"],
    },
}
# Kubernetes versions the core resources must be valid for (kubernetes-validate's bundled schemas):
# the oldest we support (native preStop sleep needs 1.30) and the newest bundled.
KUBE_VERSIONS = ("1.30.0", "1.37.0")


def kustomize_binary() -> str:
    for candidate in (
        os.environ.get("KUSTOMIZE"),
        str(REPO / ".venv" / "bin" / "kustomize"),
        shutil.which("kustomize"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("kustomize is not installed: run `make install` (it installs kustomize into .venv/bin)")


def kustomize_build(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kustomize_binary(), "build", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize build {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every overlay and variant, rendered once: name -> its documents."""
    out = {name: kustomize_build(K8S / "overlays" / name) for name in OVERLAYS}
    for name, spec in VARIANTS.items():
        folder = tmp_path_factory.mktemp(name.replace("+", "_"))
        k8s = os.path.relpath(K8S, folder)  # kustomize wants relative paths
        doc = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": "variant",
            "resources": [r.format(k8s=k8s) for r in spec["resources"]],
            "components": [c.format(k8s=k8s) for c in spec["components"]],
        }
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(doc))
        out[name] = kustomize_build(folder)
    return out


def load_generator() -> ModuleType:
    name = "frontdesk_k8s_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def access(generator: ModuleType) -> Any:
    return generator.load_access()


def _definition(service: str) -> Any:
    module = importlib.import_module(f"frontdesk.{service.replace('-', '_')}.entrypoints.main")
    definition = module.DEFINITION
    assert definition.name == service
    return definition


def _code_consumes(service: str) -> set[str]:
    """The shared topics a service's code subscribes to: its DEFINITION's handlers (those with a shared
    topic; the others arrive on its `topic_patterns`) plus clinic.configured."""
    return {model.event_type for model in _definition(service).handlers if model.shared_topic} | {"clinic.configured"}


def _code_topic_patterns(service: str) -> tuple[str, ...]:
    """The topic patterns (regexes) a service's code subscribes to besides its topics."""
    return tuple(_definition(service).topic_patterns)


@pytest.fixture(scope="session")
def code_consumes() -> Callable[[str], set[str]]:
    return _code_consumes


@pytest.fixture(scope="session")
def code_topic_patterns() -> Callable[[str], tuple[str, ...]]:
    return _code_topic_patterns


# --- CRD schemas -------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema, rejecting unknown fields the way the API server's
    strict field validation does (an object with `properties` and no explicit opening is closed)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


def load_crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator, for every served version of every vendored CRD."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(SCHEMAS.glob("*/*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert crd["kind"] == "CustomResourceDefinition", path
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})
            # apiVersion/kind/metadata are checked by the API server itself; require them here.
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft4Validator(_strict(schema))
    return validators


@pytest.fixture(scope="session")
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    return load_crd_validators()


def crd_errors(validators: dict[tuple[str, str], Any], doc: dict[str, Any]) -> list[str]:
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key not in validators:
        return [f"no vendored CRD schema for {key}"]
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validators[key].iter_errors(doc)
    ]


@pytest.fixture(scope="session")
def crd_check() -> Callable[[dict[str, Any]], list[str]]:
    validators = load_crd_validators()
    return lambda doc: crd_errors(validators, doc)


# --- metrics the code exports, and the ones a PromQL expression names ------------------------------

SERVICES = ("call-router", "scheduler", "followup", "reviews", "console", "phone-bridge")
PROMETHEUS_OWN = {"up"}  # series Prometheus itself writes per scrape target


def _exported_metrics() -> set[str]:
    """Every series name the services' code registers, once all of their modules are imported."""
    for service in SERVICES:
        importlib.import_module(f"frontdesk.{service.replace('-', '_')}.entrypoints.main")
    importlib.import_module("frontdesk.common.metrics")
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def _metric_names(node: Any) -> Iterator[str]:
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _metric_names(child)
    for arg in getattr(node, "args", None) or ():
        yield from _metric_names(arg)


@pytest.fixture(scope="session")
def exported_metrics() -> set[str]:
    return _exported_metrics() | PROMETHEUS_OWN


@pytest.fixture(scope="session")
def promql_metrics() -> Callable[[str], set[str]]:
    """The metric names a PromQL expression selects (ValueError if it does not parse)."""
    return lambda expr: set(_metric_names(promql_parser.parse(expr)))
