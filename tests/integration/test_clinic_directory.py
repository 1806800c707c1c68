"""`frontdesk apply` and the clinic directory each service projects from `clinic.configured`.

Proves: an invalid file publishes nothing and names every problem; a valid one is diffed against
what is live (new / changed / unchanged) and only changes are published; services learn them; the
newest configuration wins in every service and in apply's diff even when an older record is read
after it, and a change applied after a record stamped ahead of the clock still wins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import ClinicConfig, ClinicConfigured
from frontdesk.testing.helpers import query, send_raw, uid
from frontdesk.tools.apply import SOURCE, InvalidClinicFile, apply_file
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


async def _publish_stamped(stack: LocalStack, clinics: list[tuple[dict[str, object], datetime]]) -> list[str]:
    """Publish clinic.configured records in this order, each with its own CloudEvents time; their ids."""
    records = []
    for clinic, at in clinics:
        config = ClinicConfig.model_validate(clinic)
        records.append(encode(ClinicConfigured(clinic_id=config.clinic_id, config=config), source=SOURCE, time=at))
    await send_raw(stack.bootstrap, [(r.topic, r.key, r.value, list(r.headers)) for r in records])
    return [dict(r.headers)["ce_id"].decode() for r in records]


async def _until(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await probe()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)
    return found


async def _projected(stack: LocalStack, service: str, clinic_id: str) -> list[dict[str, Any]]:
    sql = "SELECT event_id, ARRAY(SELECT jsonb_object_keys(config->'hours')) AS days FROM clinics WHERE clinic_id = $1"
    return await query(stack.database_url(service), sql, clinic_id)


async def test_the_newest_configuration_wins_when_an_older_record_is_read_after_it(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    # What a consumer replaying clinic.configured reads after partitions were added: the key's older
    # record stays on its old partition (compaction never removes it there), so it may come second.
    clinic_id, now = uid("clinic"), datetime.now(UTC)
    newer = _clinic(clinic_id, hours={"tue": ["09:00-12:00"]})
    newer_id, older_id = await _publish_stamped(stack, [(newer, now), (_clinic(clinic_id), now - timedelta(hours=1))])
    for name in running:
        sql = "SELECT 1 FROM inbox WHERE event_id = $1"
        await _until(partial(query, stack.database_url(name), sql, older_id), f"{name} never read the older record")
        assert [r["event_id"] for r in await _projected(stack, name, clinic_id)] == [newer_id], name
    # apply's diff reads the topic as the services do: the newer one is live.
    again = await apply_file(_write(tmp_path, [newer]), stack.bootstrap)
    assert [(c.kind, c.fields) for c in again if c.clinic_id == clinic_id] == [("unchanged", [])]


async def test_a_change_wins_over_a_live_record_stamped_ahead_of_the_clock(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    # An operator's machine whose clock ran an hour ahead published the live record; the next apply,
    # on a machine with the right time, must still replace it everywhere.
    clinic_id = uid("clinic")
    await _publish_stamped(stack, [(_clinic(clinic_id), datetime.now(UTC) + timedelta(hours=1))])
    changed = await apply_file(_write(tmp_path, [_clinic(clinic_id, hours={"wed": ["10:00-11:00"]})]), stack.bootstrap)
    assert [(c.kind, c.fields) for c in changed if c.clinic_id == clinic_id] == [("changed", ["hours"])]
    for name in running:
        await _until(
            partial(_open_on, stack, name, clinic_id, "wed"),
            f"{name} kept the record stamped ahead of the clock",
        )


async def _open_on(stack: LocalStack, service: str, clinic_id: str, day: str) -> bool:
    return [r["days"] for r in await _projected(stack, service, clinic_id)] == [[day]]
