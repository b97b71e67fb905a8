"""CSRF defence (SEC-13): a session-bound token plus an Origin check on every unsafe request.

With a session: the `X-CSRF-Token` header (or `csrf_token` form field) must equal the session's
token. Before login (login and registration forms) there is no session yet, so the form carries a
signed token that must match the `csrftoken` cookie (signed double submit). JSON requests without a
cookie-authenticated session need no token: browsers cannot send `application/json` cross-site
without a CORS preflight, which ostiary only grants to allowlisted origins.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from ostiary.core.errors import Forbidden
from ostiary.core.secrets import constant_time_equals, hmac_sha256_hex, random_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def accepted_origins(issuer: str) -> frozenset[str]:
    """Our origin; for a plain-HTTP loopback issuer also its loopback aliases on the same port, so a
    developer who opens http://localhost:8000 instead of http://127.0.0.1:8000 can still log in."""
    parts = urlsplit(issuer)
    origins = {origin_of(issuer)}
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        port = f":{parts.port}" if parts.port else ""
        origins.update(f"http://{name}{port}" for name in LOOPBACK_NAMES)
    return frozenset(origins)


def check_origin(request: Request, allowed: frozenset[str]) -> None:
    """An Origin header, when present, must be ours.

    Our pages send `Referrer-Policy: no-referrer`, so browsers send `Origin: null` even on our own
    same-origin form posts. A `null` origin is therefore judged by `Sec-Fetch-Site`, which browsers
    set and pages cannot forge: only `same-origin` (or `none`, typed by the user) passes. The CSRF
    token is required either way; this check is the second line of defence.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.lower() == "null":
        if request.headers.get("sec-fetch-site", "").lower() in ("same-origin", "none"):
            return
        raise Forbidden("Cross-origin request refused.", code="origin_mismatch")
    if origin.lower() not in allowed:
        raise Forbidden("Cross-origin request refused.", code="origin_mismatch")


class PreSessionCsrf:
    """Signed double-submit tokens for forms shown before a session exists."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self) -> str:
        nonce = random_token(18)
        return f"{nonce}.{hmac_sha256_hex(self._key, nonce)}"

    def valid(self, token: str | None, cookie: str | None) -> bool:
        if not token or not cookie or not constant_time_equals(token, cookie):
            return False
        nonce, _, signature = token.partition(".")
        return bool(nonce) and constant_time_equals(signature, hmac_sha256_hex(self._key, nonce))


def presented_token(request: Request, form_value: str | None = None) -> str | None:
    return request.headers.get(CSRF_HEADER) or form_value
