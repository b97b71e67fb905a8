"""RFC 7662 §2: the token introspection endpoint.

reject repeated parameters (SEC-69) → authenticate the client; public clients are refused, since
introspection answers only authenticated callers (§2.1, SEC-36) → look the token up → answer.
Whatever the reason a token cannot be shown — unknown, expired, revoked, forged, or simply not the
caller's business — the answer is exactly `{"active": false}` (§2.2), so the endpoint is no oracle.

Who may see what (§4 leaves it to the server): a client may introspect the access and refresh
tokens issued to itself. A resource server must also see tokens issued to *other* clients — that
is what introspection is for — so a client registered with the `introspection` scope (see
`INTROSPECTION_SCOPE`) may introspect any access token. Refresh tokens are only ever shown to the
client they were issued to: no resource server has a reason to hold one. The response's
`token_type` is `Bearer` for access tokens and `refresh_token` for refresh tokens, so a resource
server that checks for `Bearer` can never mistake one for the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.errors import InvalidClient, InvalidRequest, OAuthError, TemporarilyUnavailable
from ostiary.oauth2.requests import (
    FORM_CONTENT_TYPE,
    OAuthRequest,
    Params,
    media_type,
    reject_overlap,
    reject_repeated,
    required,
    single,
)
from ostiary.oauth2.scopes import format_scope
from ostiary.storage.interfaces.oauth_clients import Client

INTROSPECTION_SCOPE = "introspection"
INACTIVE: dict[str, Any] = {"active": False}

TokenKind = Literal["access_token", "refresh_token"]


@dataclass(frozen=True)
class TokenView:
    """An *active* token as this server knows it; built by a `TokenInspector`."""

    token_type: TokenKind
    client_id: str
    subject: str  # the user id, or `client:<client_id>` for a client acting for itself
    scope: tuple[str, ...]
    expires_at: int
    issued_at: int
    issuer: str
    user_id: str | None = None  # None when the client acts for itself
    username: str | None = None
    audience: str | tuple[str, ...] | None = None
    jti: str | None = None
    grant_id: str | None = None  # for revocation by grant; never shown

    def to_json(self) -> dict[str, Any]:
        """§2.2: the introspection response of an active token."""
        body: dict[str, Any] = {
            "active": True,
            "scope": format_scope(self.scope),
            "client_id": self.client_id,
            "token_type": "Bearer" if self.token_type == "access_token" else "refresh_token",
            "exp": self.expires_at,
            "iat": self.issued_at,
            "sub": self.subject,
            "iss": self.issuer,
        }
        if self.username is not None:
            body["username"] = self.username
        if self.audience is not None:
            body["aud"] = self.audience if isinstance(self.audience, str) else list(self.audience)
        if self.jti is not None:
            body["jti"] = self.jti
        return body


class TokenInspector(Protocol):
    async def inspect(self, token: str, token_type_hint: str | None = None) -> TokenView | None:
        """The view of an active token this server issued; None for anything else."""
        ...


def endpoint_params(request: OAuthRequest, endpoint: str) -> Params:
    """RFC 7662 §2.1 / RFC 7009 §2.1: a form POST; no parameter repeated or also in the query."""
    if request.method.upper() != "POST":
        raise InvalidRequest(f"The {endpoint} endpoint accepts only POST.")
    if media_type(request) != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
    reject_overlap(request.query, request.form)
    reject_repeated(request.form)
    return request.form


def may_see(caller: Client, view: TokenView) -> bool:
    if view.client_id == caller.client_id:
        return True
    return view.token_type == "access_token" and INTROSPECTION_SCOPE in caller.scopes


class IntrospectionEndpoint:
    def __init__(
        self, authenticator: ClientAuthenticator, inspector: TokenInspector, *, realm: str = "ostiary"
    ) -> None:
        self._authenticator = authenticator
        self._inspector = inspector
        self._challenge = f'Basic realm="{realm}"'

    async def handle(self, request: OAuthRequest) -> TokenResponse:
        try:
            params = endpoint_params(request, "introspection")
            client = await self._authenticator.authenticate(request, params)
            if not client.is_confidential:
                raise InvalidClient(
                    "Introspection requires client authentication.", www_authenticate=self._challenge
                )
            token = required(params, "token")
            view = await self._inspector.inspect(token, single(params, "token_type_hint"))
        except OAuthError as exc:
            return TokenResponse(exc.status, exc.to_json(), exc.headers)
        except StoreUnavailable:
            error = TemporarilyUnavailable()
            return TokenResponse(error.status, error.to_json(), {**error.headers, "Retry-After": "5"})
        if view is None or not may_see(client, view):
            return TokenResponse(200, dict(INACTIVE))
        return TokenResponse(200, view.to_json())
