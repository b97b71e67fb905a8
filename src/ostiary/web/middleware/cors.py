"""CORS by path: browser pages get none, OAuth protocol endpoints get it without credentials.

One credentialed policy for every path is wrong for an authorization server (SEC-39, RFC 9700 §4.x):
- `/authorize`, the consent, device, logout and account pages are navigated to, never fetched. A CORS header
  there would let a script on an allowlisted origin read a page that carries a CSRF token or drive the
  consent with the user's cookie, so they get no CORS headers at all.
- `/token`, `/revoke`, `/introspect`, `/userinfo`, `/device_authorization` and the `/.well-known/`
  documents are called by SPAs with their own credentials (a code verifier, a bearer token, a client
  id), never with cookies: the allowlisted origins may read them, but without
  `Access-Control-Allow-Credentials`, so a browser never attaches the session cookie.
- Everything else (the first-party JSON API) keeps the credentialed policy for allowlisted origins.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "DPoP", "X-Request-ID", "X-CSRF-Token")
# Response headers a browser script may read: the correlation id and the retry/auth hints.
CORS_EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "WWW-Authenticate")

# Called cross-origin by public clients, with their own credentials and never with cookies.
PROTOCOL_PATHS = frozenset({"/token", "/revoke", "/introspect", "/userinfo", "/device_authorization"})
PROTOCOL_PREFIXES = ("/.well-known/",)
# Navigated to by the browser: no CORS at all (exact paths and everything below them).
PAGE_PREFIXES = ("/authorize", "/device", "/end_session", "/login", "/account")


def cors_kind(path: str) -> str:
    """`protocol`, `page` or `api` for a request path."""
    if path in PROTOCOL_PATHS or path.startswith(PROTOCOL_PREFIXES):
        return "protocol"
    for prefix in PAGE_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return "page"
    return "api"


class PathCorsMiddleware:
    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        common = {
            "allow_origins": origins,
            "allow_methods": CORS_METHODS,
            "allow_headers": CORS_REQUEST_HEADERS,
            "expose_headers": CORS_EXPOSED_HEADERS,
        }
        self.api = CORSMiddleware(app, allow_credentials=True, **common)  # type: ignore[arg-type]
        self.protocol = CORSMiddleware(app, allow_credentials=False, **common)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = cors_kind(scope.get("path", ""))
        target = self.app if kind == "page" else self.protocol if kind == "protocol" else self.api
        await target(scope, receive, send)
