"""The whole HTTP middleware onion, in one place, outermost first.

    ClientIp        resolve the real client IP first: every later layer (logs, metrics, the app's
                    rate limits and audit) keys on it and never on a raw forwarded header (SEC-63).
    RequestId       before anything logs or answers, so logs, error bodies and the echoed
                    `X-Request-ID` share one id.
    AccessLog       outside everything that can answer, so it records the status the client really
                    got (the handler's 500/503, the limiter's 413) and the full duration.
    Metrics         same reason: counts final statuses; reads the route template from the shared
                    scope after the app returns.
    SecurityHeaders outside every layer that can produce a response, so that 500/503 bodies,
                    413/405/400 refusals and CORS preflights also get nosniff, charset, HSTS.
    CORS            outside the error handler, so an allowlisted SPA can read an error body (its
                    request id, `Retry-After`) instead of seeing an opaque network error. Absent
                    when no origin is configured; by path (cors.py): none on the browser pages,
                    no credentials on the OAuth protocol endpoints.
    ErrorHandler    wraps everything that can raise; answers JSON and never re-raises, so a failing
                    request cannot reach the server's handler or take the worker down (SEC-71).
    BodyLimit       innermost: refuses TRACE, CR/LF headers and oversized bodies before the app
                    reads a byte (SEC-68, SEC-69).
    app

Mounting a `Starlette`/`FastAPI` app: its own `ServerErrorMiddleware` would answer an unhandled
exception (and an `OstiaryError`) with a plain-text 500 before our error handler sees it. Either
wrap it from outside *and* register `exception_handlers={Exception: handler_that_re_raises}` (the
re-raise happens before anything is sent, so the exception reaches us; this is what `web/app.py`
does), or install the onion inside the app with
`Starlette(middleware=[Middleware(MiddlewareStack, config=..., registry=...)])`. Either way
Starlette's ExceptionMiddleware stays inside, so `HTTPException` and FastAPI validation errors keep
their own handlers. Without either, errors are still logged and never crash the worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary.web.middleware.access_log import AccessLogMiddleware
from ostiary.web.middleware.body_limit import BodyLimitMiddleware
from ostiary.web.middleware.client_ip import ClientIpMiddleware
from ostiary.web.middleware.cors import PathCorsMiddleware
from ostiary.web.middleware.errors import ErrorHandlerMiddleware
from ostiary.web.middleware.metrics import MetricsMiddleware
from ostiary.web.middleware.request_id import RequestIdMiddleware
from ostiary.web.middleware.security_headers import SecurityHeadersMiddleware


@dataclass(frozen=True)
class MiddlewareConfig:
    """The narrow view of settings the HTTP edge needs."""

    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    hsts: bool = False


def cors_allowlist(origins: tuple[str, ...]) -> tuple[str, ...]:
    """Validate the configured origins: exact origins only, never a wildcard (SEC-66).

    Credentials are allowed for listed origins, so `*` (which Starlette would turn into "reflect
    any origin") and `null` (sandboxed iframes, `file:` pages — anyone can produce it) are refused.
    """
    cleaned = tuple(origin.strip().rstrip("/") for origin in origins if origin.strip())
    for origin in cleaned:
        if origin in ("*", "null") or "://" not in origin:
            raise ValueError(f"invalid CORS origin {origin!r}: list exact origins like https://app.example")
    return cleaned


def build_middleware_stack(app: ASGIApp, config: MiddlewareConfig, registry: CollectorRegistry) -> ASGIApp:
    """Wrap `app` in the onion documented above; each line below is one layer, innermost first."""
    app = BodyLimitMiddleware(app, max_bytes=config.max_body_bytes)
    app = ErrorHandlerMiddleware(app)
    origins = cors_allowlist(config.cors_origins)
    if origins:
        app = PathCorsMiddleware(app, origins)
    app = SecurityHeadersMiddleware(app, hsts=config.hsts)
    app = MetricsMiddleware(app, registry=registry)
    app = AccessLogMiddleware(app)
    app = RequestIdMiddleware(app)
    return ClientIpMiddleware(app, trusted_proxies=config.trusted_proxies)


class MiddlewareStack:
    """The onion as one ASGI middleware class, for `Starlette(middleware=[Middleware(...)])`."""

    def __init__(self, app: ASGIApp, config: MiddlewareConfig, registry: CollectorRegistry) -> None:
        self.app = build_middleware_stack(app, config, registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
