"""RFC 6750 at the HTTP edge: reading `Authorization: Bearer`, and the `WWW-Authenticate` challenges.

The one authentication order (web/deps.py `optional_auth`): an `Authorization` header, when present,
decides alone — the session cookie of that request is then ignored, valid or not — else the session
cookie. A bearer failure is remembered on the request: routes that only *optionally* know the caller
(HTML pages, logout) treat it as anonymous, so pages still redirect to /login; routes that require a
caller answer 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3). A bearer
caller refused for a missing permission gets 403 with `error="insufficient_scope"` (§3.1). CSRF does
not apply to bearer requests: a browser never attaches the header on its own (no ambient authority).

API keys (docs/api_keys.md) come in the same header — `Authorization: Bearer osk_…` or `oskj_…`,
told apart by their typed prefix — or in `X-API-Key`; both headers at once are refused. A refused key
answers exactly like a refused token. A key is never taken from the URL: a request whose query
carries one is refused with 400 before anything else is checked (SEC-52; the access log never
writes query strings). A key is accepted only on routes the policy engine guards (`require(…)`),
where its scopes apply; the account's own routes (`@policy("authenticated")` — sessions, password,
MFA, API keys) and the public ones answer an API-key caller 403 (SEC-54).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ostiary.authn.api_keys_auth import InvalidApiKey
from ostiary.authn.api_keys_format import MAX_KEY_CHARS, STATEFUL_PREFIX, claimed_prefix, kind_of
from ostiary.authn.principals import Authenticated
from ostiary.compose.services import Services
from ostiary.core.bearer_credentials import bearer_token
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Forbidden, InsufficientScope, NotAuthenticated, ValidationFailed
from ostiary.core.jwt_verify import InvalidToken
from ostiary.tokens.bearer import BearerAuthenticated
from ostiary.tokens.service import FIRST_PARTY_CLIENT
from ostiary.web.meta import request_meta
from ostiary.web.middleware.request_id import request_id
from ostiary.web.policy_marks import policy_of

REALM = "ostiary"
API_KEY_HEADER = "x-api-key"
# Query parameters named like a key; any parameter whose value has a key's typed prefix counts too.
_KEY_PARAMETERS = frozenset({"api_key", "apikey", "api-key", "x-api-key", "x_api_key"})


class BearerChallenge(NotAuthenticated):
    """401 for a bearer request whose token was refused; rendered with its challenge header."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        self.reason = reason  # safe to log; the response says only "invalid_token"
        super().__init__("The access token is invalid or expired.")


def authenticate_bearer(request: Request, services: Services, token: str) -> BearerAuthenticated | None:
    """The caller a bearer JWT proves; None (and the failure noted) if it proves none."""
    tokens = services.tokens
    tokens.key_refresher.poke()
    try:
        found = tokens.bearer.authenticate(token)
    except InvalidToken as exc:
        request.state.bearer_failure = BearerChallenge(exc.reason)
        return None
    if found.principal.client_id != FIRST_PARTY_CLIENT and not _policy_engine_route(
        request.scope.get("route")
    ):
        # A token delegated to a third-party application (or held by a client for itself) acts
        # only through its scopes: the account's own routes (sessions, password, keys, MFA) are
        # for the user's first-party logins, like API keys above (SEC-34).
        raise Forbidden(
            "A token issued to another application cannot be used on this endpoint.",
            code="delegated_token_not_allowed",
        )
    return found


class ApiKeyChallenge(BearerChallenge):
    """401 for a refused API key: one message whatever the reason (SEC-53)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.message = InvalidApiKey(reason).message


class ApiKeyInQuery(ValidationFailed):
    """400: a key in the URL (logs, history, Referer) is refused, and never checked (SEC-52)."""

    def __init__(self) -> None:
        super().__init__(
            "API keys are accepted only in the Authorization or X-API-Key header, never in the URL. "
            "This request was refused and the key was not checked; treat it as exposed and rotate it.",
            code="api_key_in_query",
        )


async def refuse_key_in_query(request: Request, services: Services, meta: RequestMeta) -> None:
    for name, value in request.query_params.multi_items():
        if name.lower() in _KEY_PARAMETERS or kind_of(value.strip()) is not None:
            await services.auditor.record(
                "api_key.in_query",
                meta,
                outcome="failure",
                parameter=name[:64],
                key_prefix=claimed_prefix(value.strip()),
                path=request.url.path,
            )
            raise ApiKeyInQuery()


async def authenticate_header(
    request: Request, services: Services, authorization: str | None, api_key: str | None
) -> Authenticated | None:
    """The caller the `Authorization` or `X-API-Key` header proves; None (and the failure noted) if
    it proves none. An API key outside an engine-guarded route is a 403 (see the module doc)."""
    if api_key is not None:
        if authorization is not None:  # RFC 6750 §3.1: one credential per request
            request.state.bearer_failure = BearerChallenge("two_credentials")
            return None
        return await _authenticate_api_key(request, services, api_key.strip())
    assert authorization is not None
    credential = bearer_token(authorization)  # anything but "Bearer" 1*SP b64token is malformed
    if credential is None:
        request.state.bearer_failure = BearerChallenge("malformed_header")
        return None
    if kind_of(credential) is not None:
        return await _authenticate_api_key(request, services, credential)
    return authenticate_bearer(request, services, credential)


async def _authenticate_api_key(request: Request, services: Services, key: str) -> Authenticated | None:
    meta = request_meta(request)
    if len(key) > MAX_KEY_CHARS:
        key = STATEFUL_PREFIX  # refused like any other malformed key, without hashing 64 kB
    try:
        found = await services.api_keys.authenticator.authenticate(key, meta)
    except InvalidApiKey as exc:
        request.state.bearer_failure = ApiKeyChallenge(exc.reason)
        return None
    if not _policy_engine_route(request.scope.get("route")):
        raise Forbidden("An API key cannot be used on this endpoint.", code="api_key_not_allowed")
    return found


def _policy_engine_route(route: Any) -> bool:
    """True for routes with a `require(…)` guard among their dependencies, whose decision applies the
    caller's scopes (a walk of a few dependencies, only for API-key requests)."""
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dependant = pending.pop()
        call = getattr(dependant, "call", None)
        mark = policy_of(call) if call is not None else None
        if mark is not None and mark.startswith("require:"):
            return True
        pending.extend(getattr(dependant, "dependencies", ()))
    return False


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
