"""Builds the ASGI application: FastAPI routes inside the one middleware stack of `build_middleware_stack`."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary import __version__
from ostiary.compose.oauth_endpoints import build_oauth_endpoints
from ostiary.compose.services import Services
from ostiary.core.errors import Forbidden
from ostiary.web.authorization import ScopeRequired, scope_required_response
from ostiary.web.bearer import BearerChallenge, challenge_response, forbidden_response
from ostiary.web.cookies import CookiePolicy
from ostiary.web.csrf import PreSessionCsrf, accepted_origins
from ostiary.web.hot_routes import HotRoutes
from ostiary.web.middleware.stack import MiddlewareConfig, build_middleware_stack
from ostiary.web.routes import (
    account_access_pages,
    account_pages,
    admin_accounts,
    admin_clients,
    admin_policies,
    admin_rbac,
    admin_users,
    api_keys,
    auth,
    demo_api,
    email_flows,
    email_pages,
    health,
    mfa,
    oauth_authorize,
    oauth_consents,
    oauth_device,
    oauth_introspection,
    oauth_logout,
    oauth_metadata,
    oauth_token,
    oauth_userinfo,
    pages,
    passkeys,
    profile,
    sessions,
    tokens,
)

STATIC = Path(__file__).with_name("static")


def mount_routes(api: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app itself, in order. FastAPI ≥ 0.16x keeps an included router
    as one nested entry and matches through it per request, at several times the cost of a plain
    route each (measured: ~100 µs to reach a route behind eight routers); ours carry their prefix
    in each route's path and set nothing at include time, so the routes stand on their own."""
    api.router.routes.extend(router.routes)


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
    api.state.passkeys_enabled = services.passkeys is not None  # the login page's passkey button
    registry = CollectorRegistry()
    api.state.metrics_registry = registry
    # Health first: load balancers call it constantly, and FastAPI tries routes in this order (so
    # bench/tokens_bench.py's /healthz baseline is not made slower by the routes before it).
    mount_routes(api, health.router)
    for module in (auth, profile, sessions, admin_users, admin_accounts, admin_rbac, admin_policies):
        mount_routes(api, module.router)
    mount_routes(api, admin_clients.router)
    for module in (pages, tokens):
        mount_routes(api, module.router)
    for module in (account_pages, account_access_pages):  # the account pages (docs/account.md)
        mount_routes(api, module.router)
    mount_routes(api, mfa.router)  # second factors (docs/mfa.md)
    if services.passkeys is not None:  # WebAuthn; off on an IP-address issuer (docs/passkeys.md)
        mount_routes(api, passkeys.router)
    mount_routes(api, api_keys.router)  # a user's API keys, and an admin's view (docs/api_keys.md)
    # Password reset and address verification by email; magic links only when on (docs/email.md).
    for email_router in (email_flows.router, email_pages.router):
        mount_routes(api, email_router)
    if services.email.magic_link is not None:
        for email_router in (email_flows.magic_router, email_pages.magic_router):
            mount_routes(api, email_router)
    if services.oauth is not None:  # the OAuth 2.0 / OIDC provider (docs/oauth.md)
        for module in (oauth_authorize, oauth_token, oauth_metadata, oauth_consents):
            mount_routes(api, module.router)
        # Device flow, introspection, revocation, UserInfo, logout (compose/oauth_endpoints.py).
        api.state.oauth_endpoints = build_oauth_endpoints(
            services.oauth,
            users=services.users,
            secret=services.secret,
            verification_uri=settings.issuer + oauth_device.VERIFICATION_PATH,
        )
        for module in (oauth_device, oauth_introspection, oauth_userinfo, oauth_logout):
            mount_routes(api, module.router)
    if demo if demo is not None else bool(demo_users):
        api.state.demo_data = demo_api.DemoData()
        mount_routes(api, demo_api.router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    hot = HotRoutes(api, (*HOT_PATHS, *(OAUTH_HOT_PATHS if services.oauth is not None else ())))
    config = MiddlewareConfig(
        trusted_proxies=tuple(settings.trusted_proxies),
        cors_origins=tuple(settings.cors_origins),
        max_body_bytes=settings.max_body_bytes,
        hsts=not settings.is_plain_http,
    )
    return OstiaryApp(api, build_middleware_stack(hot, config, registry))


# Machine-to-machine endpoints called many times a second, answered before FastAPI's router
# (web/hot_routes.py). /healthz stays on the ordinary path: bench/tokens_bench.py measures protected
# routes against it, so it must cost what an ordinary route costs.
HOT_PATHS = ("/.well-known/jwks.json",)
OAUTH_HOT_PATHS = ("/token", "/introspect", "/revoke", "/userinfo")


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
