"""`frontdesk apply` refuses a clinic file it cannot publish safely, saying where and why: the
network section, the fallback's vendor check (a refused file publishes nothing), vendor ids, and the
local stack's demo network, which configures a fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from frontdesk.common.contracts import ClinicConfig, NetworkConfigured
from frontdesk.tools import apply
from frontdesk.tools.apply import InvalidClinicFile, check_fallback, load_clinics, load_network
from frontdesk.tools.cli import DEMO_NETWORK
from frontdesk.tools.stack import LocalStack

CLINIC = {
    "clinic_id": "c1",
    "name": "Clinic",
    "timezone": "UTC",
    "phone": {"answering_service": "owl", "secondary_answering_service": "pac"},
}


def test_issue16_item9_apply_refuses_a_dotted_vendor_id(tmp_path: Path) -> None:
    clinics = [
        {
            "clinic_id": "c1",
            "name": "Clinic One",
            "timezone": "America/Chicago",
            "phone": {"answering_service": "acme", "vendors": [{"vendor_id": "acme"}, {"vendor_id": "acme.night"}]},
        },
        {"clinic_id": "c2", "name": "Clinic Two", "timezone": "UTC", "phone": {"answering_service": "acme"}},
    ]
    path = tmp_path / "clinics.yaml"
    path.write_text(yaml.safe_dump({"clinics": clinics}))
    with pytest.raises(InvalidClinicFile) as excinfo:
        load_clinics(path)
    message = str(excinfo.value)
    assert message.startswith("clinic c1: phone.vendors.1.vendor_id: Value error, vendor id 'acme.night' must be")
    assert "no dots" in message and "c2" not in message


def _file(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "network.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_demo_network_configures_a_fallback_to_one_of_its_own_vendors() -> None:
    network = load_network(DEMO_NETWORK)
    clinics = load_clinics(DEMO_NETWORK)
    assert network is not None and network.fallback is not None
    vendors = {v.vendor_id for c in clinics for v in c.phone.effective_vendors()}
    assert set(network.fallback.vendor_ids()) <= vendors
    assert check_fallback(network, clinics) == []


def test_a_file_without_a_network_section_leaves_the_live_one_alone(tmp_path: Path) -> None:
    path = _file(tmp_path, {"clinics": [CLINIC]})
    assert load_network(path) is None
    assert apply.diff_network(None, NetworkConfigured())[0].kind == "live only"


def test_a_network_section_is_validated_like_the_clinics(tmp_path: Path) -> None:
    path = _file(tmp_path, {"network": {"fallback": {"answering_service": "owl", "rings": 0}}, "clinics": [CLINIC]})
    with pytest.raises(InvalidClinicFile, match=r"network: fallback\.rings"):
        load_network(path)
    with pytest.raises(InvalidClinicFile, match="unknown top-level keys"):
        load_clinics(_file(tmp_path, {"clinics": [CLINIC], "fallback": {}}))


def test_an_unknown_fallback_vendor_is_named() -> None:
    clinics = [ClinicConfig.model_validate(CLINIC)]
    network = NetworkConfigured.model_validate(
        {"fallback": {"answering_service": "owl", "secondary_answering_service": "nightowl-answerng"}}
    )
    assert check_fallback(network, clinics) == [
        "network: fallback.secondary_answering_service: unknown vendor 'nightowl-answerng': no clinic uses it"
        " (the clinics' vendors: owl, pac)"
    ]


async def test_apply_refuses_an_unknown_fallback_vendor_and_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[Any] = []

    async def nothing_live(bootstrap: str) -> dict[str, apply.LiveClinic]:
        return {}

    async def record(*args: Any, **kwargs: Any) -> Any:
        published.append((args, kwargs))

    monkeypatch.setattr(apply, "live_clinics", nothing_live)
    monkeypatch.setattr(apply, "publish", record)
    monkeypatch.setattr(apply, "ensure_vendor_topics", record)
    path = _file(tmp_path, {"network": {"fallback": {"answering_service": "typo-answering"}}, "clinics": [CLINIC]})
    with pytest.raises(InvalidClinicFile, match=r"fallback\.answering_service: unknown vendor 'typo-answering'"):
        await apply.apply_file(path, "127.0.0.1:1")
    assert published == []


def test_the_local_stack_configures_the_demo_fallback_unless_one_is_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[NetworkConfigured | None] = []
    live: list[NetworkConfigured] = []

    async def live_network(bootstrap: str) -> NetworkConfigured | None:
        return live[0] if live else None

    async def record(bootstrap: str, clinics: list[ClinicConfig], **kwargs: Any) -> None:
        published.append(kwargs.get("network"))

    async def topics(*args: Any) -> list[str]:
        return []

    monkeypatch.setattr(apply, "live_network", live_network)
    monkeypatch.setattr(apply, "publish", record)
    monkeypatch.setattr(apply, "ensure_vendor_topics", topics)
    stack = LocalStack(tmp_path)
    assert stack.configure_network() is True
    assert published == [load_network(DEMO_NETWORK)]
    live.append(NetworkConfigured())  # an operator's own document (here: no fallback) is kept
    assert stack.configure_network() is False
    assert len(published) == 1
