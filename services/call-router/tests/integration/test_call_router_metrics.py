"""call-router's metrics and staffing over the real stack.

Proves: per-clinic, per-hour metrics (offered, answered within budget, SL, ASA, abandonment,
overflow, after-hours share) come out of real call outcomes; Prometheus exports the counters; the
Erlang C staffing forecast is served over HTTP and published as a staffing.forecast event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import CallAbandoned, CallAnswered, CallEnded, CallReceived, ClinicConfig, Event
from frontdesk.testing.helpers import send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


async def test_hourly_metrics_prometheus_and_the_staffing_forecast(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = uid("crm")
    config = ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Metrics Clinic",
            "timezone": "America/Chicago",
            "phone": {"answering_service": f"{clinic_id}-v"},  # never open: every call is after hours
        }
    )
    await publish(stack.bootstrap, [config])
    # Calls that arrived 150 s ago in the current hour (or the last: metrics are read for 2 hours), so
    # that every outcome below is in the past (the router counts none from after it heard it).
    t0 = datetime.now(UTC) - timedelta(seconds=150)
    calls = [
        CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=t0, caller_token=uid("tok"))
        for _ in range(4)
    ]
    vendor = f"{clinic_id}-v"
    outcomes: list[Event] = [
        CallAnswered(
            call_id=calls[0].call_id,
            clinic_id=clinic_id,
            answered_at=t0 + timedelta(seconds=4),
            answered_by_kind="answering_service",
            answered_by_id=vendor,
        ),
        CallEnded(call_id=calls[0].call_id, clinic_id=clinic_id, ended_at=t0 + timedelta(seconds=124)),
        CallAnswered(
            call_id=calls[1].call_id,
            clinic_id=clinic_id,
            answered_at=t0 + timedelta(seconds=25),  # outside the 18 s budget
            answered_by_kind="answering_service",
            answered_by_id=vendor,
        ),
        CallAbandoned(call_id=calls[2].call_id, clinic_id=clinic_id, abandoned_at=t0 + timedelta(seconds=2)),
        CallAbandoned(call_id=calls[3].call_id, clinic_id=clinic_id, abandoned_at=t0 + timedelta(seconds=10)),
    ]
    async with router.client(timeout=10) as client:
        deadline = time.monotonic() + 60
        while clinic_id not in {c["clinic_id"] for c in (await client.get("/v1/clinics")).json()}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        # The outcomes travel on other topics: sent with the calls, one may overtake its call (kept
        # and applied when it arrives, without routing it), so they follow the calls' routing here.
        async with EventTap(stack.bootstrap, ["call.routed"]) as routed:
            await send_events(stack.bootstrap, calls)
            ids = {c.call_id for c in calls}
            await routed.wait_for(lambda e: getattr(e.data, "call_id", None) in ids, len(calls), timeout=60)
        await send_events(stack.bootstrap, outcomes)
        start = t0.replace(minute=0, second=0, microsecond=0)
        deadline = time.monotonic() + 60
        while True:
            body = (
                await client.get(f"/v1/clinics/{clinic_id}/metrics", params={"start": start.isoformat(), "hours": 2})
            ).json()
            hour = body["hours"][0]
            if hour["answered"] == 2 and hour["abandoned"] == 2 and hour["ended"] == 1:
                break
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.3)
        assert hour["offered"] == 4
        assert (hour["answered_within_budget"], hour["short_abandons"]) == (1, 1)
        assert hour["service_level"] == 1 / 3  # 1 within budget / (4 offered - 1 short abandon)
        assert hour["asa_seconds"] == (4 + 25) / 2
        assert hour["abandonment_rate"] == 0.5
        assert hour["overflow_rate"] == 1.0 and hour["after_hours_share"] == 1.0
        assert hour["handle_seconds"] == 120
        assert body["hours"][1]["offered"] == 0
        assert (await client.get("/v1/clinics/nope/metrics")).status_code == 404
        assert (await client.get(f"/v1/clinics/{clinic_id}/metrics", params={"hours": 0})).status_code == 422

        prometheus = (await client.get(router.ops_url + "/metrics")).text
        assert f'frontdesk_calls_received_total{{clinic_id="{clinic_id}"}} 4.0' in prometheus
        assert f'frontdesk_calls_answered_total{{clinic_id="{clinic_id}",within_budget="true"}} 1.0' in prometheus
        # Time to a human (the dashboards' quantiles): answered after 4 s and after 25 s.
        waited = f'frontdesk_call_time_to_human_seconds_bucket{{clinic_id="{clinic_id}",le='
        assert f'{waited}"4.0"}} 1.0' in prometheus and f'{waited}"24.0"}} 1.0' in prometheus
        assert f'{waited}"30.0"}} 2.0' in prometheus
        assert f'frontdesk_call_time_to_human_seconds_sum{{clinic_id="{clinic_id}"}} 29.0' in prometheus

        staffing = (await client.get(f"/v1/clinics/{clinic_id}/staffing", params={"weeks": 1})).json()
        assert len(staffing["hours"]) == 168 and staffing["target_seconds"] == 18
        local = t0.astimezone(config.zone)
        [slot] = [h for h in staffing["hours"] if (h["weekday"], h["hour"]) == (local.weekday(), local.hour)]
        assert slot["arrivals_per_hour"] == 4 and slot["aht_seconds"] == 120 and slot["agents"] >= 1
        assert (await client.get(f"/v1/clinics/{clinic_id}/staffing", params={"weeks": 0})).status_code == 422

        async with EventTap(stack.bootstrap, ["staffing.forecast"]) as tap:
            created = await client.post(
                f"/v1/clinics/{clinic_id}/staffing/forecasts", json={"weeks": 1, "shrinkage": 0.25}
            )
            assert created.status_code == 201, created.text
            [event] = await tap.wait_for(lambda e: getattr(e.data, "clinic_id", None) == clinic_id, timeout=60)
        assert event.data.forecast_id == created.json()["forecast_id"]  # type: ignore[attr-defined]
        assert len(event.data.hours) == 168  # type: ignore[attr-defined]
