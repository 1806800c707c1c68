"""The console's projector: the events into the read model, a batch of them per transaction.

The consumer hands over a partition's queued events in one transaction (frontdesk.common.batches).
Each event's handler writes its own facts (handlers.py, worklists.py, schedule.py, trends.py), and
`batch_scope` settles, once per batch, what the batch changes as a whole:
- the calls' rows: the batch's call events applied to the rows read before it (domain/call_facts.py),
  the changed rows written in one statement (not one per event);
- the hour summaries (console_call_hours) of the calls it touched: each call's share before the
  batch and after it (domain/summary.py), the difference added to its hours' rows. A call's facts
  only fill in, so a replayed event changes no share: nothing is counted twice, and the summaries
  are the sums over the calls as they stand, whatever order the events came in;
- a clinic configured in the batch (its zone or ring budget may have moved) has its hours counted
  again from its calls (and a call of a clinic not configured yet counts once it is);
- each clinic's open worklist items (console_open_items) move by what the batch did to its
  callbacks' and recovery tasks' openness (counted among those items before and after the batch);
- each clinic with an event gets one version bump (console_activity): its live pages refresh.
Writers of one read model take turns (a transaction-scoped advisory lock per schema): the live
consumer, a second replica during a rebalance, a rebuild's catch-up. So the share read before the
batch is the share the summaries hold, and no two writers wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date

from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    CallbackCompleted,
    CallbackRequested,
    CallRouted,
    ClinicConfigured,
    Event,
    RecoveryClosed,
    ReviewEscalated,
)
from frontdesk.common.db import Connection

from . import handlers, schedule, trends, worklists
from .adapters import repository, summaries
from .domain import call_facts
from .domain.board import CallCounts
from .domain.call_facts import CALL_FACTS, CallRow
from .domain.summary import hour_counts, share_changes

HANDLERS: dict[type[Event], Handler] = {
    # replaces the default projection handler of clinic.configured (the same, here in a batch)
    ClinicConfigured: handlers.handle_clinic_configured,
    **dict.fromkeys(CALL_FACTS, handlers.handle_call_fact),
    CallRouted: handlers.handle_call_routed,
    AgentStatusChanged: handlers.handle_agent_status_changed,
    AgentAutoPaused: handlers.handle_agent_auto_paused,
    CallbackRequested: handlers.handle_callback_requested,
    **worklists.HANDLERS,
    **schedule.HANDLERS,
    **trends.HANDLERS,
}
_TURNS = "frontdesk.console.projection"  # the advisory lock's name (hashed with the schema)


@asynccontextmanager
async def batch_scope(conn: Connection, events: Sequence[Event]) -> AsyncIterator[None]:
    """Around the handlers of one batch, inside its transaction (see the module's docstring)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))", _TURNS)
    call_ids = sorted({e.call_id for e in events if isinstance(e, CALL_FACTS)})
    items = _worklist_items(events)
    before = await repository.call_rows(conn, call_ids) if call_ids else {}
    open_before = await summaries.open_items_among(conn, *items) if items != ([], []) else {}
    yield
    configured = sorted({e.clinic_id for e in events if isinstance(e, ClinicConfigured)})
    if call_ids:
        after = dict(before)
        for event in events:
            if isinstance(event, CALL_FACTS):
                after[event.call_id] = call_facts.apply(after.get(event.call_id), event)
        changed = {c: row for c, row in after.items() if row != before.get(c)}
        await repository.write_calls(conn, list(changed.values()))
        await _count_changes(conn, before, changed, set(configured))
    if items != ([], []):
        await _count_open_items(conn, events, open_before, await summaries.open_items_among(conn, *items))
    for clinic_id in configured:
        await count_again(conn, clinic_id)
    if events:
        await repository.touch(conn, sorted({clinic_of(e) for e in events}))


def clinic_of(event: Event) -> str:
    clinic_id: str = getattr(event, "clinic_id")  # noqa: B009 - every event the console reads has one
    return clinic_id


async def _count_changes(
    conn: Connection, before: dict[str, CallRow], after: dict[str, CallRow], counted_again: set[str]
) -> None:
    by_clinic: dict[str, list[str]] = {}
    for call_id, row in after.items():
        if row.clinic_id not in counted_again:
            by_clinic.setdefault(row.clinic_id, []).append(call_id)
    if not by_clinic:
        return
    configs = await summaries.clinic_configs(conn, sorted(by_clinic))
    changes: dict[tuple[str, date, int], CallCounts] = {}
    for clinic_id, config in configs.items():
        pairs = [(before[c].call if c in before else None, after[c].call) for c in by_clinic[clinic_id]]
        budget = config.phone.ring_budget_seconds
        for (day, hour), change in share_changes(pairs, config.zone, budget).items():
            changes[(clinic_id, day, hour)] = change
    await summaries.add(conn, changes)


def _worklist_items(events: Sequence[Event]) -> tuple[list[str], list[str]]:
    """The callbacks and recovery tasks whose opening or closing the batch may carry."""
    callbacks = {e.callback_id for e in events if isinstance(e, CallbackRequested | CallbackCompleted)}
    tasks = {e.recovery_task_id for e in events if isinstance(e, ReviewEscalated | RecoveryClosed)}
    return sorted(callbacks), sorted(tasks)


async def _count_open_items(
    conn: Connection, events: Sequence[Event], before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> None:
    """Each clinic's open items move by what its items' openness did in the batch."""
    kinds = CallbackRequested | CallbackCompleted | ReviewEscalated | RecoveryClosed
    clinics = {clinic_of(e) for e in events if isinstance(e, kinds)} | set(before) | set(after)
    changes = {}
    for clinic_id in clinics:
        (b_callbacks, b_tasks), (a_callbacks, a_tasks) = before.get(clinic_id, (0, 0)), after.get(clinic_id, (0, 0))
        changes[clinic_id] = (a_callbacks - b_callbacks, a_tasks - b_tasks)
    await summaries.add_open_items(conn, changes)


async def count_again(conn: Connection, clinic_id: str) -> None:
    """The clinic's summaries counted from its rows (after its configuration changed, or after rows
    were written around the handlers, as the benchmark's seeded month is)."""
    config = (await summaries.clinic_configs(conn, [clinic_id])).get(clinic_id)
    calls = await repository.clinic_calls(conn, clinic_id)
    hours = [] if config is None else hour_counts(calls, config.zone, config.phone.ring_budget_seconds)
    await summaries.replace(conn, clinic_id, hours)
    await summaries.count_open_items_again(conn, clinic_id)
