"""What an SRE relies on: liveness, readiness, metrics and clear 4xx answers on every service."""

from __future__ import annotations

import httpx

from frontdesk.tools.stack import ServiceProcess


async def test_every_service_is_live_ready_and_exports_metrics(running: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for service in running.values():
            live = await client.get(service.ops_url + "/healthz")
            assert live.status_code == 200 and live.json()["alive"] is True
            ready = await client.get(service.ops_url + "/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"started": True, "database": True, "kafka": True}
            metrics = (await client.get(service.ops_url + "/metrics")).text
            for name in (
                "frontdesk_events_consumed_total",
                "frontdesk_outbox_published_total",
                "frontdesk_consumer_lag",
                "frontdesk_dlq_published_total",
            ):
                assert name in metrics, f"{service.name} lacks {name}"


async def test_unknown_resources_are_a_clear_404(
    running: dict[str, ServiceProcess], api_headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(timeout=5, headers=api_headers) as client:
        response = await client.get(running["scheduler"].url + "/v1/appointments/appt-nope")
        assert response.status_code == 404
        assert response.json() == {"detail": "unknown appointment"}
        response = await client.get(running["call-router"].url + "/v1/calls/call-nope")
        assert response.status_code == 404
