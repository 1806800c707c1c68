"""The committed JSON Schema files are exactly what the models say, and they describe real events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from frontdesk.common.cloudevents import dataschema
from frontdesk.common.contracts import EVENTS, Event
from frontdesk.common.contracts import schemas as schemas_module
from frontdesk.common.contracts.schemas import SCHEMA_DIR, main, render_schemas

COMMITTED = Path(__file__).resolve().parents[2] / "schemas"  # libs/common/schemas


def test_the_schema_directory_is_libs_common_schemas() -> None:
    assert SCHEMA_DIR == COMMITTED


def test_committed_schema_files_are_up_to_date() -> None:
    expected = render_schemas()
    present = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.json")}
    missing = sorted(expected.keys() - present.keys())
    extra = sorted(present.keys() - expected.keys())
    stale = sorted(name for name in expected.keys() & present.keys() if present[name] != expected[name])
    assert not (missing or extra or stale), (
        f"libs/common/schemas is out of date (missing={missing}, extra={extra}, stale={stale}): run `make schemas`"
    )


def test_one_file_per_event_type_with_id_topic_and_key() -> None:
    rendered = render_schemas()
    assert len(rendered) == len(EVENTS)
    for event_type, spec in EVENTS.items():
        text = rendered[f"{event_type}.v{spec.model.version}.json"]
        assert text.endswith("}\n")
        schema = json.loads(text)
        assert schema["$id"] == dataschema(event_type, spec.model.version)
        assert schema["$id"] == f"urn:frontdesk:schema:{event_type}:{spec.model.version}"
        assert schema["x-topic"] == (spec.topic.name if spec.topic is not None else None)
        assert schema.get("x-topic-patterns", []) == list(spec.patterns)
        assert schema["x-record-key"] == spec.model.key_field
        assert schema["x-record-key"] in schema["properties"]
        assert schema["additionalProperties"] is False
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_a_valid_event_validates_against_its_schema(event_type: str, samples: dict[str, Event]) -> None:
    event = samples[event_type]
    schema = json.loads(render_schemas()[f"{event_type}.v{event.version}.json"])
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(json.loads(event.model_dump_json()))) == []
    # ...and a payload with an unknown field does not (the models forbid extra fields too).
    assert list(validator.iter_errors({**json.loads(event.model_dump_json()), "unexpected": 1}))


def test_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_write_then_check_in_an_empty_directory(tmp_path: Path) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert main(["--write", "--dir", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(render_schemas())
    assert main(["--check", "--dir", str(tmp_path)]) == 0


def test_check_lists_stale_missing_and_extra_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--write", "--dir", str(tmp_path)]) == 0
    (tmp_path / "call.received.v1.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "call.routed.v1.json").unlink()
    (tmp_path / "call.teleported.v1.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: call.received.v1.json" in err
    assert "missing: call.routed.v1.json" in err
    assert "extra: call.teleported.v1.json" in err
    assert "make schemas" in err
    # --write repairs all three, removing the file of the event type that does not exist.
    assert main(["--write", "--dir", str(tmp_path)]) == 0
    assert schemas_module.compare(tmp_path) == []
    assert not (tmp_path / "call.teleported.v1.json").exists()


def test_write_or_check_is_required() -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code == 2
