"""OpenID Connect Core §5.3 with RFC 6750 §2–3: the UserInfo endpoint.

The access token arrives in the `Authorization: Bearer` header (GET or POST) or as the
`access_token` form parameter of a POST (RFC 6750 §2.1–2.2); the URI query form (§2.3) is not
accepted — it ends up in logs and browser history. More than one way at once is `invalid_request`.

The token is checked by the same inspector as introspection, so JWT and opaque access tokens alike
are refused once expired, revoked or belonging to a revoked grant; an ID token or a refresh token is
not an access token and is refused too. A token without `openid` is 403 `insufficient_scope`. The
user is re-read on every call: a disabled or deleted user's token is `invalid_token` (SEC-45).
Claims are limited to the granted scopes (OIDC Core §5.4) and `sub` is the ID token's `sub`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ostiary.core.bearer_credentials import bearer_token
from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.endpoints.introspection import TokenInspector
from ostiary.oauth2.errors import NO_STORE_HEADERS, OAuthError, TemporarilyUnavailable
from ostiary.oauth2.requests import FORM_CONTENT_TYPE, OAuthRequest, media_type
from ostiary.oidc.claims import user_claims
from ostiary.storage.interfaces.users import UserRecord

_MAX_TOKEN_CHARS = 8192


class UserById(Protocol):
    """The one read this needs (`UserStore.get` fits)."""

    async def get(self, user_id: str) -> UserRecord | None: ...


class BearerError(OAuthError):
    """RFC 6750 §3: an error of a protected resource, with its `WWW-Authenticate` challenge."""

    realm = "ostiary"
    with_error_code = True

    @property
    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{self.realm}"'
        if self.with_error_code:
            challenge += f', error="{self.code}", error_description="{self.message}"'
        return {**NO_STORE_HEADERS, "WWW-Authenticate": challenge}


class MissingToken(BearerError):
    """§3.1: a request with no authentication at all gets a bare challenge, without error code."""

    status = 401
    code = "invalid_token"
    description = "An access token is required."
    with_error_code = False

    def to_json(self) -> dict[str, str]:
        return {}


class InvalidBearerToken(BearerError):
    status = 401
    code = "invalid_token"
    description = "The access token is invalid, expired or revoked."


class InsufficientBearerScope(BearerError):
    status = 403
    code = "insufficient_scope"
    description = "The access token was not granted the openid scope."


class InvalidBearerRequest(BearerError):
    status = 400
    code = "invalid_request"
    description = "The request is malformed."


@dataclass(frozen=True)
class UserInfoResponse:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: dict(NO_STORE_HEADERS))


def bearer_token_of(request: OAuthRequest) -> str | None:
    """The access token of a UserInfo request (RFC 6750 §2.1–2.2), or None when none is sent."""
    header = request.header("authorization")
    from_header: str | None = None
    if header is not None:
        from_header = bearer_token(header)  # RFC 6750 §2.1
        if from_header is None:
            raise InvalidBearerRequest("The Authorization header is not a Bearer credential.")
    in_form = request.form.get("access_token", [])
    if request.method.upper() != "POST" or media_type(request) != FORM_CONTENT_TYPE:
        in_form = []  # §2.2: the body form is only read from a form-encoded POST
    if "access_token" in request.query:
        raise InvalidBearerRequest("Send the access token in the Authorization header, not the URI.")
    if len(in_form) > 1 or (in_form and from_header is not None):
        raise InvalidBearerRequest("Send the access token one way only.")
    token = from_header if from_header is not None else (in_form[0] if in_form else None)
    return token or None


class UserInfoEndpoint:
    def __init__(self, inspector: TokenInspector, users: UserById) -> None:
        self._inspector = inspector
        self._users = users

    async def claims(self, access_token: str | None) -> dict[str, Any]:
        """The claims `access_token` may see, or a `BearerError`."""
        if not access_token:
            raise MissingToken()
        if len(access_token) > _MAX_TOKEN_CHARS:
            raise InvalidBearerToken()
        view = await self._inspector.inspect(access_token, "access_token")
        if view is None or view.token_type != "access_token":
            raise InvalidBearerToken()
        if "openid" not in view.scope:
            raise InsufficientBearerScope()
        user = await self._users.get(view.user_id) if view.user_id is not None else None
        if user is None or user.disabled:
            raise InvalidBearerToken()
        return user_claims(user, view.scope)

    async def handle(self, request: OAuthRequest) -> UserInfoResponse:
        """GET or POST /userinfo → 200 with the claims, or the RFC 6750 error."""
        try:
            if request.method.upper() not in ("GET", "POST"):
                raise InvalidBearerRequest("UserInfo accepts GET and POST.")
            body = await self.claims(bearer_token_of(request))
        except OAuthError as exc:
            return UserInfoResponse(exc.status, exc.to_json(), exc.headers)
        except StoreUnavailable:
            error = TemporarilyUnavailable()
            return UserInfoResponse(error.status, error.to_json(), {**error.headers, "Retry-After": "5"})
        return UserInfoResponse(200, body)
