"""RFC 6750 at the HTTP edge: reading `Authorization: Bearer`, and the `WWW-Authenticate` challenges.

The one authentication order (web/deps.py `optional_auth`): an `Authorization` header, when present,
decides alone — the session cookie of that request is then ignored, valid or not — else the session
cookie. A bearer failure is remembered on the request: routes that only *optionally* know the caller
(HTML pages, logout) treat it as anonymous, so pages still redirect to /login; routes that require a
caller answer 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3). A bearer
caller refused for a missing permission gets 403 with `error="insufficient_scope"` (§3.1). CSRF does
not apply to bearer requests: a browser never attaches the header on its own (no ambient authority).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ostiary.compose.services import Services
from ostiary.core.errors import Forbidden, InsufficientScope, NotAuthenticated
from ostiary.core.jwt_verify import InvalidToken
from ostiary.tokens.bearer import BearerAuthenticated
from ostiary.web.middleware.request_id import request_id

REALM = "ostiary"
# RFC 6750 §2.1: "Bearer" 1*SP b64token. Anything else in the header is a malformed credential.
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


class BearerChallenge(NotAuthenticated):
    """401 for a bearer request whose token was refused; rendered with its challenge header."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        self.reason = reason  # safe to log; the response says only "invalid_token"
        super().__init__("The access token is invalid or expired.")


def authenticate_bearer(request: Request, services: Services, header: str) -> BearerAuthenticated | None:
    """The caller an `Authorization` header proves; None (and the failure noted) if it proves none."""
    match = _BEARER.fullmatch(header.strip())
    if match is None:
        request.state.bearer_failure = BearerChallenge("malformed_header")
        return None
    tokens = services.tokens
    tokens.key_refresher.poke()
    try:
        return tokens.bearer.authenticate(match.group(1))
    except InvalidToken as exc:
        request.state.bearer_failure = BearerChallenge(exc.reason)
        return None


def bearer_failure(request: Request) -> BearerChallenge | None:
    failure = getattr(request.state, "bearer_failure", None)
    return failure if isinstance(failure, BearerChallenge) else None


def _error(request: Request, status: int, code: str, message: str, challenge: str) -> Response:
    return JSONResponse(
        {"error": code, "message": message, "request_id": request_id(request)},
        status_code=status,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


async def challenge_response(request: Request, exc: Exception) -> Response:
    """Exception handler for `BearerChallenge` (registered by web/app.py)."""
    assert isinstance(exc, BearerChallenge)
    return _error(
        request,
        401,
        "invalid_token",
        exc.message,
        f'Bearer realm="{REALM}", error="invalid_token", error_description="{exc.message}"',
    )


async def forbidden_response(request: Request, exc: Exception) -> Response:
    """403 for a bearer caller lacking a permission → `insufficient_scope`; other 403s unchanged
    (re-raised to the global error handler)."""
    auth = getattr(request.state, "auth", None)
    if isinstance(exc, Forbidden) and (
        isinstance(exc, InsufficientScope)
        or (isinstance(auth, BearerAuthenticated) and exc.code == "forbidden")
    ):
        message = InsufficientScope().message
        return _error(
            request,
            403,
            "insufficient_scope",
            message,
            f'Bearer realm="{REALM}", error="insufficient_scope", error_description="{message}"',
        )
    raise exc


def bearer_me(auth: BearerAuthenticated) -> dict[str, object]:
    """`/auth/me` for a bearer caller: what the token proves, without a database read (its claims
    are at most one access-token lifetime old, SEC-58)."""
    principal = auth.principal
    return {
        "id": principal.subject,
        "username": principal.username,
        "permissions": sorted(principal.permissions),
        "scope": " ".join(sorted(principal.scopes or ())),
        "auth_method": principal.method,
        "auth_time": principal.auth_time,
        "client_id": principal.client_id,
        "sid": auth.family_id,
    }
