"""`frontdesk apply` and the clinic directory each service projects from `clinic.configured`.

Proves: an invalid file publishes nothing and names every problem; a valid one is diffed against
what is live (new / changed / unchanged) and only changes are published; services learn them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from frontdesk.testing.helpers import uid
from frontdesk.tools.apply import InvalidClinicFile, apply_file
from frontdesk.tools.cli import main as frontdesk
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


def _clinic(clinic_id: str, **changes: object) -> dict[str, object]:
    clinic: dict[str, object] = {
        "clinic_id": clinic_id,
        "name": "Apply Test Clinic",
        "timezone": "America/Denver",
        "hours": {"mon": ["08:00-17:00"]},
        "phone": {"answering_service": "vendor-x"},
    }
    clinic.update(changes)
    return clinic


def _write(tmp_path: Path, clinics: list[dict[str, object]]) -> Path:
    path = tmp_path / "clinics.yaml"
    path.write_text(yaml.safe_dump({"clinics": clinics}))
    return path


async def test_an_invalid_file_publishes_nothing_and_names_every_problem(stack: LocalStack, tmp_path: Path) -> None:
    good, bad = uid("clinic"), uid("clinic")
    path = _write(tmp_path, [_clinic(good), _clinic(bad, timezone="Mars/Olympus", hours={"mon": ["17:00-08:00"]})])
    async with EventTap(stack.bootstrap, ["clinic.configured"]) as tap:
        with pytest.raises(InvalidClinicFile) as problem:
            await apply_file(path, stack.bootstrap)
        await tap.settle(1.0)
    message = str(problem.value)
    assert f"clinic {bad}: timezone" in message and "unknown IANA time zone" in message
    assert "closes" in message
    assert tap.raw == []  # not even the valid clinic was published


def test_the_cli_exits_2_on_an_invalid_file(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, [_clinic(uid("clinic"), unknown_setting=True)])
    assert frontdesk(["--bootstrap", stack.bootstrap, "apply", "-f", str(path)]) == 2
    assert "unknown_setting" in capsys.readouterr().err


async def test_apply_diffs_against_live_and_services_learn_the_change(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    clinic_id = uid("clinic")
    first = await apply_file(_write(tmp_path, [_clinic(clinic_id)]), stack.bootstrap)
    assert [(c.clinic_id, c.kind) for c in first if c.clinic_id == clinic_id] == [(clinic_id, "new")]
    again = await apply_file(_write(tmp_path, [_clinic(clinic_id)]), stack.bootstrap)
    assert [(c.kind, c.fields) for c in again if c.clinic_id == clinic_id] == [("unchanged", [])]
    changed = await apply_file(_write(tmp_path, [_clinic(clinic_id, hours={"tue": ["09:00-12:00"]})]), stack.bootstrap)
    assert [(c.kind, c.fields) for c in changed if c.clinic_id == clinic_id] == [("changed", ["hours"])]

    deadline = time.monotonic() + 30
    for service in running.values():
        while clinic_id not in await asyncio.to_thread(service.known_clinics):
            assert time.monotonic() < deadline, f"{service.name} did not learn {clinic_id}"
            await asyncio.sleep(0.2)
