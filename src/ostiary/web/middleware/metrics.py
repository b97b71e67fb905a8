"""Prometheus request metrics with bounded cardinality.

Labels use the matched route's path template (`/clients/{client_id}`), never the raw path, so a
scanner requesting a million URLs adds one `unmatched` series, not a million. The method label is
limited to the standard methods for the same reason. Metrics live in a registry that is passed in,
so several apps (and tests) in one process never collide on the global default registry.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.web.middleware._asgi import route_template

UNMATCHED = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Login (argon2) and token calls sit in the 10 ms – 1 s range; buckets resolve that range well.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """The collectors, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "ostiary_http_requests_total",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "ostiary_http_request_duration_seconds",
            "HTTP request duration by method and route template.",
            ("method", "route"),
            buckets=_BUCKETS,
            registry=registry,
        )
        # The labelled children, looked up once per label set: `labels()` validates its arguments
        # on every call, which cost more than the counting itself. Cardinality is bounded (above).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[method, route, status] = self.requests.labels(method, route, str(status))
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[method, route] = self.duration.labels(method, route)
        counter.inc()
        timer.observe(seconds)


def metrics_response(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The exposition body and its content type, for a `/metrics` route (kept off the public listener)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Count and time each HTTP request by (method, route template, status)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.metrics = HttpMetrics(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 0

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            status = status or 500  # an inner layer failed to answer; the client will see a 500
            raise
        finally:
            method = str(scope.get("method", ""))
            method = method if method in _KNOWN_METHODS else "other"
            route = route_template(scope) or UNMATCHED
            self.metrics.count(method, route, status, time.perf_counter() - started)
