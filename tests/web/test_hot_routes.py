"""web/hot_routes.py: exact-path routes answered before FastAPI's router, with FastAPI's behaviour kept."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from prometheus_client import CollectorRegistry
from starlette.responses import JSONResponse, Response

from helpers import make_app
from ostiary.web.hot_routes import HotRoutes
from ostiary.web.middleware.metrics import MetricsMiddleware


class Teapot(Exception):
    pass


def make_api() -> FastAPI:
    async def teapot(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"error": "teapot"}, status_code=418)

    api = FastAPI(exception_handlers={Teapot: teapot})
    api.state.greeting = "hello"
    router = APIRouter()

    @router.post("/hot")
    async def hot(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"greeting": request.app.state.greeting, "body": body.decode()})

    @router.post("/teapot")
    async def raises_teapot(request: Request) -> Response:
        raise Teapot

    @router.post("/http-error")
    async def raises_http(request: Request) -> Response:
        raise HTTPException(status_code=409, detail="conflict")

    @router.post("/crash")
    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    @router.get("/cold")
    async def cold(request: Request) -> Response:
        return JSONResponse({"cold": True})

    api.include_router(router)  # included routers are what FastAPI keeps nested
    return api


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]


async def test_a_hot_route_is_answered_with_the_apps_state() -> None:
    api = make_api()
    async with client(HotRoutes(api, ["/hot"])) as http:
        response = await http.post("/hot", content=b"a=1")
    assert response.status_code == 200
    assert response.json() == {"greeting": "hello", "body": "a=1"}


async def test_other_methods_and_paths_still_go_through_fastapi() -> None:
    api = make_api()
    async with client(HotRoutes(api, ["/hot"])) as http:
        wrong_method = await http.get("/hot")
        other = await http.get("/cold")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert other.json() == {"cold": True}


async def test_exceptions_get_the_apps_handlers_and_the_rest_propagate() -> None:
    api = make_api()
    app = HotRoutes(api, ["/teapot", "/http-error", "/crash"])
    async with client(app) as http:
        teapot = await http.post("/teapot")
        http_error = await http.post("/http-error")
        assert teapot.status_code == 418 and teapot.json() == {"error": "teapot"}
        assert http_error.status_code == 409 and http_error.json() == {"detail": "conflict"}
        with pytest.raises(RuntimeError, match="boom"):  # up to the error-handling middleware
            await http.post("/crash")


async def test_the_metrics_see_the_route_template() -> None:
    api = make_api()
    registry = CollectorRegistry()
    async with client(MetricsMiddleware(HotRoutes(api, ["/hot"]), registry=registry)) as http:
        await http.post("/hot")
    count = registry.get_sample_value(
        "ostiary_http_requests_total", {"method": "POST", "route": "/hot", "status": "200"}
    )
    assert count == 1


def test_a_route_that_needs_fastapi_is_refused() -> None:
    api = FastAPI()

    async def dependency() -> int:
        return 1

    @api.post("/with-dependency")
    async def with_dependency(request: Request, value: int = Depends(dependency)) -> Response:
        return Response()

    @api.post("/with-query")
    async def with_query(request: Request, q: str) -> Response:
        return Response()

    for path in ("/with-dependency", "/with-query"):
        with pytest.raises(ValueError, match="Request alone"):
            HotRoutes(api, [path])
    with pytest.raises(ValueError, match="not mounted"):
        HotRoutes(api, ["/absent"])


async def test_the_app_keeps_no_nested_routers(tmp_path: Path) -> None:
    """web/app.py adds routes directly (mount_routes): a nested router is matched per request at
    several times a plain route's cost, which is what made /healthz slow behind eight of them."""
    async with make_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}") as h:
        routes = h.app.api.router.routes
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url="http://t") as http:
            assert (await http.get("/healthz")).status_code == 200
    assert [type(r).__name__ for r in routes if type(r).__name__ == "_IncludedRouter"] == []
    assert getattr(routes[0], "path", None) == "/healthz"  # health checks are matched first
