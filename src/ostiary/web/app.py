"""Builds the ASGI application: FastAPI routes inside the one middleware stack of `build_middleware_stack`."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary import __version__
from ostiary.compose.services import Services
from ostiary.core.errors import Forbidden
from ostiary.web.authorization import ScopeRequired, scope_required_response
from ostiary.web.bearer import BearerChallenge, challenge_response, forbidden_response
from ostiary.web.cookies import CookiePolicy
from ostiary.web.csrf import PreSessionCsrf, accepted_origins
from ostiary.web.middleware.stack import MiddlewareConfig, build_middleware_stack
from ostiary.web.routes import (
    admin_accounts,
    admin_policies,
    admin_rbac,
    admin_users,
    auth,
    demo_api,
    health,
    pages,
    profile,
    sessions,
    tokens,
)

STATIC = Path(__file__).with_name("static")


async def _propagate(_request: Request, exc: Exception) -> NoReturn:
    # Starlette's ServerErrorMiddleware would answer a plain-text 500 itself; re-raising from its
    # handler hands every error to our ErrorHandlerMiddleware, which answers JSON with a request id.
    raise exc


def create_app(
    services: Services, *, demo_users: list[dict[str, str]] | None = None, demo: bool | None = None
) -> OstiaryApp:
    """`demo` mounts the demo API (web/routes/demo_api.py); by default it follows `demo_users`, which
    `ostiary serve --demo` sets."""
    settings = services.settings

    docs = settings.docs_public
    api = FastAPI(
        title="ostiary",
        version=__version__,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        exception_handlers={
            Exception: _propagate,
            BearerChallenge: challenge_response,  # RFC 6750 §3 challenges (web/bearer.py)
            Forbidden: forbidden_response,
            ScopeRequired: scope_required_response,  # 403 with scope="…" (web/authorization.py)
        },
    )
    api.state.services = services
    api.state.cookies = CookiePolicy(secure=settings.secure_cookies)
    api.state.allowed_origins = accepted_origins(settings.issuer)
    api.state.pre_session_csrf = PreSessionCsrf(services.secret.derive("pre-session-csrf"))
    api.state.demo_users = demo_users or []
    registry = CollectorRegistry()
    api.state.metrics_registry = registry
    for module in (auth, profile, sessions, admin_users, admin_accounts, admin_rbac, admin_policies):
        api.include_router(module.router)
    for module in (pages, health, tokens):
        api.include_router(module.router)
    if demo if demo is not None else bool(demo_users):
        api.state.demo_data = demo_api.DemoData()
        api.include_router(demo_api.router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    config = MiddlewareConfig(
        trusted_proxies=tuple(settings.trusted_proxies),
        cors_origins=tuple(settings.cors_origins),
        max_body_bytes=settings.max_body_bytes,
        hsts=not settings.is_plain_http,
    )
    return OstiaryApp(api, build_middleware_stack(api, config, registry))


class OstiaryApp:
    """The ASGI callable a server runs; `.api` is the FastAPI router inside the middleware onion."""

    def __init__(self, api: FastAPI, asgi: ASGIApp) -> None:
        self.api = api
        self._asgi = asgi

    @property
    def services(self) -> Services:
        services: Services = self.api.state.services
        return services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)
