"""What the morning rush watches every second, from outside the services:

- each service's consumer lag: its group's committed offsets against the ends of those partitions,
  read from the broker (the services commit every 0.2 s, so a busy group shows a few records);
- each service's outbox backlog (rows not yet published) and overdue timers (more than a second past
  due, not dead), from its own database;
- resident memory (RSS) and cumulative CPU of each service process, of PostgreSQL (every backend)
  and the broker, of this process (the load generator) and of the whole machine;
- PostgreSQL's client connections, per database (this watcher's own are left out).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import procstat

from frontdesk.common.kafka import make_admin, make_reader
from frontdesk.tools.stack import LocalStack, ServiceProcess

WATCHER = "bench-rush-watch"  # application_name of the watcher's own connections
OVERDUE = "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM timers WHERE dead_at IS NULL AND due_at < now() - interval '1 second')"  # noqa: E501
# Timers set but not yet due at the end, by kind: what the run left for later (quiet hours, caps, windows).
WAITING = (
    "SELECT kind, count(*)::int AS n, extract(epoch FROM min(due_at) - now()) AS first_s,"
    " extract(epoch FROM max(due_at) - now()) AS last_s"
    " FROM timers WHERE dead_at IS NULL AND due_at >= now() GROUP BY kind ORDER BY kind"
)
# What each service holds at the end, by state: where every requested message and planned follow-up went.
HELD = {
    "followup": (
        "SELECT 'messages ' || requested_by || ' ' || purpose || ' ' || status AS what, count(*)::int AS n"
        " FROM messages GROUP BY 1 UNION ALL"
        " SELECT 'plans ' || kind || ' ' || status, count(*)::int FROM followups GROUP BY 1 ORDER BY 1"
    ),
    "reviews": "SELECT 'requests ' || status AS what, count(*)::int AS n FROM review_requests GROUP BY 1 ORDER BY 1",
}
CONNECTIONS = (
    "SELECT datname, count(*) AS n FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND application_name <> $1 GROUP BY datname"
)


@dataclass(frozen=True)
class Sample:
    at: float  # seconds after T0 (negative before it)
    lag: dict[str, int]  # records, per service
    consumed: dict[str, dict[str, int]]  # records its group has committed, per topic
    outbox: dict[str, int]
    overdue: dict[str, int]
    rss: dict[str, int]  # bytes, per service process (a replica under its own name, e.g. followup-1)
    connections: dict[str, int]  # per database
    cpu: dict[str, float]  # cumulative CPU seconds: service processes, postgres, kafka, load generator, machine, stolen

    def backlog(self, service: str) -> int:
        """Everything the service still owes: records to consume, events to publish, timers to fire."""
        return self.lag.get(service, 0) + self.outbox.get(service, 0) + self.overdue.get(service, 0)


@dataclass
class Watcher:
    stack: LocalStack
    services: dict[str, ServiceProcess]  # one per service: its consumer group and its database
    processes: dict[str, ServiceProcess]  # every instance, replicas too: memory and CPU
    t0: float  # monotonic time of T0
    samples: list[Sample] = field(default_factory=list)

    async def __aenter__(self) -> Watcher:
        self._admin = make_admin(self.stack.bootstrap, WATCHER)
        await self._admin.start()
        self._reader = make_reader(self.stack.bootstrap, WATCHER)
        await self._reader.start()
        settings = {"application_name": WATCHER}
        self._server = await asyncpg.connect(self.stack.server_database_url, server_settings=settings)
        self._databases = {
            name: await asyncpg.connect(self.stack.admin_database_url(name), server_settings=settings)
            for name in self.services
        }
        return self

    async def __aexit__(self, *_: object) -> None:
        for conn in [self._server, *self._databases.values()]:
            await conn.close()
        await self._reader.stop()
        await self._admin.close()

    async def _lag(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        committed: dict[str, dict[Any, int]] = {}
        for name in self.services:
            offsets = await self._admin.list_consumer_group_offsets(f"frontdesk.{name}")
            committed[name] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = await self._reader.end_offsets(list(partitions)) if partitions else {}
        lag = {
            name: sum(max(0, ends.get(tp, offset) - offset) for tp, offset in offsets.items())
            for name, offsets in committed.items()
        }
        consumed: dict[str, dict[str, int]] = {}
        for name, offsets in committed.items():
            topics = consumed.setdefault(name, {})
            for tp, offset in offsets.items():
                topics[tp.topic] = topics.get(tp.topic, 0) + offset
        return lag, consumed

    def _cpu(self) -> dict[str, float]:
        cpu = {name: procstat.cpu_seconds(p.process.pid()) or 0.0 for name, p in self.processes.items()}
        cpu["postgres"] = procstat.postgres_cpu_seconds(self.stack.postgres.process.pid()) or 0.0
        cpu["kafka"] = procstat.cpu_seconds(self.stack.kafka.process.pid()) or 0.0
        cpu["load generator"] = procstat.cpu_seconds(os.getpid()) or 0.0
        cpu["machine"], cpu["stolen"] = procstat.machine_cpu_seconds()
        return cpu

    async def sample(self) -> Sample:
        lag, consumed = await self._lag()
        outbox, overdue = {}, {}
        for name, conn in self._databases.items():
            row = await conn.fetchrow(OVERDUE)
            assert row is not None
            outbox[name], overdue[name] = row[0], row[1]
        rows = await self._server.fetch(CONNECTIONS, WATCHER)
        return Sample(
            at=time.monotonic() - self.t0,
            lag=lag,
            consumed=consumed,
            outbox=outbox,
            overdue=overdue,
            rss={name: procstat.rss_bytes(p.process.pid()) or 0 for name, p in self.processes.items()},
            connections={r["datname"] or "(none)": r["n"] for r in rows},
            cpu=self._cpu(),
        )

    async def waiting(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per service and timer kind: how many timers are set for later, and in how many hours the first
        and last fall due (a message held by quiet hours or a cap waits as a send timer)."""
        waiting: dict[str, dict[str, dict[str, float]]] = {}
        for name, conn in self._databases.items():
            for row in await conn.fetch(WAITING):
                first, last = float(row["first_s"]) / 3600, float(row["last_s"]) / 3600
                hours = {"first_h": round(first, 1), "last_h": round(last, 1)}
                waiting.setdefault(name, {})[row["kind"]] = {"count": row["n"], **hours}
        return waiting

    async def held(self) -> dict[str, dict[str, int]]:
        """Per service (followup, reviews): its messages, plans or requests counted by state at the end."""
        return {
            name: {row["what"]: row["n"] for row in await self._databases[name].fetch(sql)}
            for name, sql in HELD.items()
            if name in self._databases
        }

    async def run(self, interval: float = 1.0) -> None:
        """Sample every `interval` seconds until cancelled."""
        while True:
            started = time.monotonic()
            self.samples.append(await self.sample())
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
