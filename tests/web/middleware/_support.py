"""A tiny Starlette app behind the real middleware onion, and a client factory for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ostiary.core.errors import RateLimited, StoreUnavailable
from ostiary.web.middleware import MiddlewareConfig, MiddlewareStack, client_ip, csp_nonce, request_id

SECRET_MESSAGE = "secret /etc/passwd SELECT"
FakeOperationalError = type("OperationalError", (Exception,), {"__module__": "sqlalchemy.exc"})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {"client_ip": client_ip(request), "request_id": request_id(request), "nonce": csp_nonce(request)}
    )


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(f'<script nonce="{csp_nonce(request)}"></script>')


async def text(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


async def boom(request: Request) -> Response:
    raise RuntimeError(SECRET_MESSAGE)


async def fake_db(request: Request) -> Response:
    raise FakeOperationalError("connection refused to db.internal:5432")


async def real_db(request: Request) -> Response:
    import sqlalchemy.exc

    raise sqlalchemy.exc.OperationalError("SELECT secret FROM users", {}, ConnectionRefusedError("refused"))


async def wrapped_db(request: Request) -> Response:
    try:
        raise ConnectionResetError("peer reset")
    except ConnectionResetError as exc:
        raise ValueError("repository failed") from exc


async def limited(request: Request) -> Response:
    raise RateLimited(30)


async def store_down(request: Request) -> Response:
    raise StoreUnavailable()


async def late_failure(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("mid-stream")

    return StreamingResponse(chunks(), media_type="text/plain")


async def user(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["user_id"])


async def branded(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x", headers={"Server": "uvicorn/0.30", "X-Powered-By": "ostiary/0.1"})


ROUTES = [
    Route("/ip", whoami),
    Route("/page", page),
    Route("/text", text),
    Route("/echo", echo, methods=["POST"]),
    Route("/boom", boom),
    Route("/fake-db", fake_db),
    Route("/real-db", real_db),
    Route("/wrapped-db", wrapped_db),
    Route("/limited", limited),
    Route("/store-down", store_down),
    Route("/late", late_failure),
    Route("/users/{user_id}", user),
    Route("/branded", branded),
]

AppFactory = Callable[..., Starlette]


def make_app(registry: CollectorRegistry | None = None, **config: object) -> Starlette:
    """The recommended mounting: the onion inside Starlette, outside its ExceptionMiddleware."""
    cfg = MiddlewareConfig(**config)  # type: ignore[arg-type]
    reg = registry or CollectorRegistry()
    return Starlette(routes=ROUTES, middleware=[Middleware(MiddlewareStack, config=cfg, registry=reg)])


def client_for(app: object, peer: tuple[str, int] = ("127.0.0.1", 123)) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=peer)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")
