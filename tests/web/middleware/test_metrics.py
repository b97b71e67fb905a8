"""Request metrics keyed by route template, in a registry of our own."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from ostiary.web.middleware.metrics import metrics_response


def count(registry: CollectorRegistry, method: str, route: str, status: str) -> float | None:
    labels = {"method": method, "route": route, "status": status}
    return registry.get_sample_value("ostiary_http_requests_total", labels)


async def test_route_templates_and_statuses(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
    for user_id in ("1", "2", "3"):
        await client.get(f"/users/{user_id}")
    await client.get("/random/scanner/path")
    await client.get("/boom")
    await client.request("BREW", "/users/1")
    assert count(registry, "GET", "/users/{user_id}", "200") == 3
    assert count(registry, "GET", "unmatched", "404") == 1
    assert count(registry, "GET", "/boom", "500") == 1
    assert count(registry, "other", "/users/{user_id}", "405") == 1
    duration = registry.get_sample_value(
        "ostiary_http_request_duration_seconds_count", {"method": "GET", "route": "/users/{user_id}"}
    )
    assert duration == 3


async def test_metrics_response(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
    await client.get("/ip")
    body, content_type = metrics_response(registry)
    assert content_type.startswith("text/plain")
    assert b'ostiary_http_requests_total{method="GET",route="/ip",status="200"} 1.0' in body
