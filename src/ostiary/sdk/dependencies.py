"""RFC 6750 §2.1 and §3 for an API: FastAPI / Starlette dependencies that accept ostiary tokens.

```python
auth = OstiaryAuth(JwtAccessTokenVerifier(ISSUER, AUDIENCE, JwksCache(JWKS_URI)))

@app.get("/items")
async def items(token: TokenInfo = Depends(auth.require(scopes=["items:read"]))): ...
```

Answers, per RFC 6750 §3.1:

- no `Authorization` header, or another scheme → 401 `WWW-Authenticate: Bearer realm="…"` with no
  error code (the client may not know authentication is needed);
- a token that is refused (forged, expired, other audience, …) → 401
  `Bearer error="invalid_token"`; the reason is logged at debug level, never sent;
- a valid token lacking a required scope or permission → 403 `Bearer error="insufficient_scope",
  scope="…"` naming what the route needs;
- the header sent twice → 400 `invalid_request`;
- the token cannot be checked at all (no JWKS yet, introspection down) → 503 with `Retry-After`:
  fail closed, and do not tell the client its token is bad when it may not be.

Tokens are read from the header only: `?access_token=` (RFC 6750 §2.3) would put them in logs and
histories (SEC-09), and form bodies (§2.2) are not read by an API of JSON routes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ostiary.core.bearer_credentials import bearer_token
from ostiary.core.jwt_verify import InvalidToken
from ostiary.sdk.errors import VerificationUnavailable
from ostiary.sdk.token_info import TokenInfo, TokenValidator

log = logging.getLogger(__name__)

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 §3.3 scope-token (NQCHAR)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    names = tuple(value.split() if isinstance(value, str) else value)
    for name in names:
        if not isinstance(name, str) or not _SCOPE_TOKEN.fullmatch(name):
            raise ValueError(f"not a valid scope or permission name: {name!r}")
    return names


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class OstiaryAuth:
    """Bearer-token authentication for the routes of one API (see the module docstring)."""

    def __init__(self, validator: TokenValidator, *, realm: str | None = None, retry_after: int = 5) -> None:
        self._validator = validator
        self._realm = realm
        self._retry_after = retry_after

    def require(
        self, *, scopes: str | Iterable[str] = (), permissions: str | Iterable[str] = ()
    ) -> Callable[[Request], Awaitable[TokenInfo]]:
        """A dependency that yields the caller's `TokenInfo` once it holds all `scopes` and
        `permissions` (space-separated strings or iterables)."""
        needed_scopes, needed_permissions = _names(scopes), _names(permissions)

        async def bearer_token(request: Request) -> TokenInfo:
            return await self.authenticate(request, scopes=needed_scopes, permissions=needed_permissions)

        return bearer_token

    async def authenticate(
        self, request: Request, *, scopes: Iterable[str] = (), permissions: Iterable[str] = ()
    ) -> TokenInfo:
        """The `TokenInfo` of the request's bearer token, or an `HTTPException` (401/403/400/503)."""
        token = self._token_of(request)
        try:
            info = await self._validator.verify(token)
        except InvalidToken as exc:
            log.debug("bearer token refused: %s", exc.reason)
            raise self._challenge(401, "invalid_token", "The access token is invalid or expired.") from None
        except VerificationUnavailable as exc:
            log.warning("bearer token could not be checked: %s", exc.reason)
            raise HTTPException(
                503,
                "The access token cannot be checked right now.",
                headers={"Retry-After": str(self._retry_after)},
            ) from None
        missing = info.missing_scopes(scopes) + info.missing_permissions(permissions)
        if missing:
            needed = " ".join(dict.fromkeys([*scopes, *permissions]))
            raise self._challenge(
                403, "insufficient_scope", "The access token does not grant this.", scope=needed
            )
        request.state.token_info = info
        return info

    def _token_of(self, request: Request) -> str:
        headers = request.headers.getlist("authorization")
        if len(headers) > 1:
            raise self._challenge(400, "invalid_request", "Send one Authorization header.")
        if not headers or not headers[0].lower().startswith("bearer "):
            raise self._challenge(401, None, "An access token is required.")
        token = bearer_token(headers[0])
        if token is None:
            raise self._challenge(401, "invalid_token", "The access token is invalid or expired.")
        return token

    def _challenge(
        self, status: int, error: str | None, message: str, *, scope: str | None = None
    ) -> HTTPException:
        params: list[str] = []
        if self._realm is not None:
            params.append(f"realm={_quoted(self._realm)}")
        if error is not None:
            params += [f"error={_quoted(error)}", f"error_description={_quoted(message)}"]
        if scope:
            params.append(f"scope={_quoted(scope)}")
        challenge = "Bearer" + (" " + ", ".join(params) if params else "")
        return HTTPException(status, message, headers={"WWW-Authenticate": challenge})
