"""Browser hardening headers on every response (SEC-65, SEC-67, SEC-68).

Defaults are added only when the inner layers did not set the header themselves, so a route may
tighten (never needs to loosen) a policy. HTML gets a strict CSP whose script/style nonce is made
before the app runs and published as `scope["state"]["csp_nonce"]` for the templates.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.web.middleware._asgi import scope_of, state

STATE_KEY = "csp_nonce"
HSTS_VALUE = b"max-age=31536000; includeSubDomains"

_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
# Headers that advertise software and versions to an attacker (SEC-68).
_REMOVED = frozenset({b"server", b"x-powered-by"})
# Types whose bytes are text; without a charset a browser may sniff UTF-7 and the like.
_TEXT_APPLICATION_TYPES = frozenset({b"application/json", b"application/javascript", b"application/xml"})


def content_security_policy(nonce: str) -> bytes:
    """The CSP of HTML pages: nothing third-party, nonce'd scripts and styles, no framing."""
    return (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "base-uri 'none'; "
        "object-src 'none'; "
        "connect-src 'self'"
    ).encode("ascii")


class _NotYetMade:
    """The nonce slot of a request whose nonce nobody has asked for: most responses are JSON and
    never need one, so it is made on first use (a template, or an HTML response going out)."""


_NOT_YET_MADE = _NotYetMade()


def csp_nonce(scope_or_request: Any) -> str | None:
    """The CSP nonce of the current request, for `<script nonce="…">` in templates; None outside
    the middleware."""
    slots = scope_of(scope_or_request).get("state", {})
    value = slots.get(STATE_KEY)
    if value is _NOT_YET_MADE:
        value = slots[STATE_KEY] = secrets.token_urlsafe(18)
    return value if isinstance(value, str) else None


def with_charset(content_type: bytes) -> bytes:
    """Add `; charset=utf-8` to a textual content type that lacks one."""
    media_type = content_type.split(b";", 1)[0].strip().lower()
    textual = (
        media_type.startswith(b"text/")
        or media_type in _TEXT_APPLICATION_TYPES
        or media_type.endswith((b"+json", b"+xml"))
    )
    if textual and b"charset=" not in content_type.lower():
        return content_type + b"; charset=utf-8"
    return content_type


class SecurityHeadersMiddleware:
    """Add hardening headers, a CSP on HTML, charsets on text, and strip `Server`/`X-Powered-By`."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        # HSTS over plain http is ignored by browsers and would pin a dev host to https: opt-in.
        self._defaults = _ALWAYS + (((b"strict-transport-security", HSTS_VALUE),) if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        state(scope)[STATE_KEY] = _NOT_YET_MADE

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._secure(message.get("headers", ()), scope)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _secure(self, raw: Any, scope: Scope) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        present: set[bytes] = set()
        is_html = False
        for name, value in raw:
            key = bytes(name).lower()
            if key in _REMOVED:
                continue
            if key == b"content-type":
                value = with_charset(bytes(value))
                is_html = value.split(b";", 1)[0].strip().lower() == b"text/html"
            headers.append((key, bytes(value)))
            present.add(key)

        for default in self._defaults:
            if default[0] not in present:
                headers.append(default)
        if is_html and b"content-security-policy" not in present:
            nonce = csp_nonce(scope)  # the one the page was rendered with, if it asked for one
            headers.append((b"content-security-policy", content_security_policy(nonce or "")))
        return headers
