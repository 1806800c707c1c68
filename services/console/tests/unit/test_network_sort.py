"""The Network table's order: by the chosen column, clinics without a value last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from frontdesk.console.domain.board import Call, day_metrics
from frontdesk.console.screens import NetworkRow, sort_rows

T0 = datetime(2026, 3, 2, 14, tzinfo=UTC)


def row(clinic_id: str, answered_within: int, late: int, callbacks: int = 0) -> NetworkRow:
    calls = [Call(f"{clinic_id}-{i}", T0, answered_at=T0 + timedelta(seconds=5)) for i in range(answered_within)]
    calls += [Call(f"{clinic_id}-l{i}", T0, answered_at=T0 + timedelta(seconds=60)) for i in range(late)]
    return NetworkRow(clinic_id, clinic_id.upper(), "UTC", day_metrics(calls, 18), callbacks, None)


def test_sort_by_service_level_worst_first_and_empty_last() -> None:
    rows = [row("a", 9, 1), row("b", 1, 1), row("idle", 0, 0), row("c", 1, 0, callbacks=3)]
    assert [r.clinic_id for r in sort_rows(rows, "service_level", False)] == ["b", "a", "c", "idle"]
    assert [r.clinic_id for r in sort_rows(rows, "service_level", True)] == ["c", "a", "b", "idle"]
    assert next(r.clinic_id for r in sort_rows(rows, "callbacks", True)) == "c"
    assert [r.clinic_id for r in sort_rows(rows, "clinic", False)] == ["a", "b", "c", "idle"]
    assert [r.metrics.below_target for r in sort_rows(rows, "clinic", False)] == [False, True, False, False]


def test_sort_by_open_worklist_items() -> None:
    busy, calm = row("busy", 1, 0), row("calm", 1, 0)
    rows = [NetworkRow(**{**busy.__dict__, "open_items": 7}), calm]
    assert [r.clinic_id for r in sort_rows(rows, "open_items", True)] == ["busy", "calm"]
