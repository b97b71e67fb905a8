"""The onion as a whole: CORS allowlist (SEC-66), non-HTTP scopes, mounting choices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import NoReturn

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Router

from ostiary.web.middleware.stack import MiddlewareConfig, build_middleware_stack, cors_allowlist

from ._support import ROUTES, client_for, make_app

SPA = "https://app.example"


@pytest.fixture
async def cors_client() -> httpx.AsyncClient:
    return client_for(make_app(cors_origins=(SPA,)))


@pytest.mark.sec("SEC-66")
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://app.example.evil.example"])
async def test_foreign_origins_are_not_reflected(cors_client: httpx.AsyncClient, origin: str) -> None:
    async with cors_client:
        simple = await cors_client.get("/ip", headers={"Origin": origin})
        preflight = await cors_client.options(
            "/ip", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
    for response in (simple, preflight):
        assert "access-control-allow-origin" not in response.headers
    assert preflight.status_code == 400


@pytest.mark.sec("SEC-66")
async def test_allowlisted_origin_is_echoed_with_credentials(cors_client: httpx.AsyncClient) -> None:
    async with cors_client:
        simple = await cors_client.get("/ip", headers={"Origin": SPA})
        failed = await cors_client.get("/fake-db", headers={"Origin": SPA})
        preflight = await cors_client.options(
            "/ip",
            headers={
                "Origin": SPA,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    for response in (simple, failed, preflight):
        assert response.headers["access-control-allow-origin"] == SPA
        assert response.headers["access-control-allow-credentials"] == "true"
    # An SPA can read the error's request id and retry hint.
    assert "retry-after" in failed.headers["access-control-expose-headers"].lower()
    assert preflight.headers["x-content-type-options"] == "nosniff"


@pytest.mark.sec("SEC-66")
async def test_no_cors_layer_without_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/ip", headers={"Origin": SPA})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.sec("SEC-66")
@pytest.mark.parametrize("bad", ["*", "null", "app.example"])
def test_wildcards_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        cors_allowlist((SPA, bad))
    assert cors_allowlist((SPA + "/", " ")) == (SPA,)


async def test_lifespan_passes_through() -> None:
    started: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append(True)
        yield

    app = build_middleware_stack(
        Starlette(routes=ROUTES, lifespan=lifespan), MiddlewareConfig(), CollectorRegistry()
    )
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive():  # type: ignore[no-untyped-def]
        return next(messages)

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert started == [True]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.sec("SEC-71")
async def test_wrapping_a_bare_router_gets_json_errors() -> None:
    app = build_middleware_stack(Router(routes=ROUTES), MiddlewareConfig(), CollectorRegistry())
    async with client_for(app) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"


@pytest.mark.sec("SEC-71")
async def test_wrapping_a_starlette_app_from_outside_still_never_crashes() -> None:
    # Starlette's own ServerErrorMiddleware answers first (plain text) and re-raises; we swallow it.
    app = build_middleware_stack(Starlette(routes=ROUTES), MiddlewareConfig(), CollectorRegistry())
    async with client_for(app) as client:
        response = await client.get("/boom")
        assert response.status_code == 500
        assert "secret" not in response.text
        assert (await client.get("/ip")).status_code == 200


async def _propagate(request: Request, exc: Exception) -> NoReturn:
    raise exc


@pytest.mark.sec("SEC-71")
@pytest.mark.parametrize(("path", "status"), [("/boom", 500), ("/limited", 429), ("/fake-db", 503)])
async def test_wrapping_from_outside_with_a_propagating_handler_gets_json_errors(
    path: str, status: int
) -> None:
    # How web/app.py mounts it: Starlette's ServerErrorMiddleware handler re-raises before answering.
    inner = Starlette(routes=ROUTES, exception_handlers={Exception: _propagate})
    app = build_middleware_stack(inner, MiddlewareConfig(), CollectorRegistry())
    async with client_for(app) as client:
        response = await client.get(path)
    assert response.status_code == status
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_mounted_routes_keep_bounded_templates() -> None:
    registry = CollectorRegistry()
    inner = Starlette(routes=[Mount("/api", routes=ROUTES), Mount("/static", app=PlainTextResponse("s"))])
    app = build_middleware_stack(inner, MiddlewareConfig(), registry)
    async with client_for(app) as client:
        await client.get("/api/users/9")
        await client.get("/static/css/a.css")
    for route in ("/api/users/{user_id}", "/static/{path}"):
        labels = {"method": "GET", "route": route, "status": "200"}
        assert registry.get_sample_value("ostiary_http_requests_total", labels) == 1
