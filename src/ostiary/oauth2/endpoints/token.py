"""RFC 6749 §3.2, §5.1–5.2: the token endpoint — one straight line of named steps.

reject repeated parameters (SEC-69) → authenticate the client (SEC-33) → pick the grant by
`grant_type` → is this client registered for it? (else `unauthorized_client`, SEC-32) → grant.handle.
Every answer, success or error, carries `Cache-Control: no-store` (§5.1, SEC-40). Registering a
grant is one line: `endpoint.register(MyGrant(...))`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.errors import (
    NO_STORE_HEADERS,
    OAuthError,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ostiary.oauth2.grants.base import Grant, TokenRequest
from ostiary.oauth2.requests import OAuthRequest, required, token_request_params

# Grant types a client can be refused by name (SEC-32) even when this server has them switched off,
# so a client probing `password` learns `unauthorized_client`, not what the server supports.
KNOWN_GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:openid:params:grant-type:ciba",
    }
)


@dataclass(frozen=True)
class TokenResponse:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: dict(NO_STORE_HEADERS))


class TokenEndpoint:
    def __init__(self, authenticator: ClientAuthenticator, grants: Iterable[Grant] = ()) -> None:
        self._authenticator = authenticator
        self._grants: dict[str, Grant] = {}
        for grant in grants:
            self.register(grant)

    def register(self, grant: Grant) -> None:
        if grant.grant_type in self._grants:
            raise ValueError(f"grant type {grant.grant_type!r} is already registered")
        self._grants[grant.grant_type] = grant

    @property
    def grant_types_supported(self) -> tuple[str, ...]:
        """For discovery metadata (RFC 8414 §2): exactly what is registered."""
        return tuple(self._grants)

    async def handle(self, request: OAuthRequest) -> TokenResponse:
        try:
            params = token_request_params(request)
            client = await self._authenticator.authenticate(request, params)
            grant = self._pick_grant(required(params, "grant_type"), client.grant_types)
            tokens = await grant.handle(TokenRequest(client=client, params=params, request=request))
        except OAuthError as exc:
            return TokenResponse(exc.status, exc.to_json(), exc.headers)
        except StoreUnavailable:
            error = TemporarilyUnavailable()
            return TokenResponse(error.status, error.to_json(), {**error.headers, "Retry-After": "5"})
        return TokenResponse(200, tokens.to_json())

    def _pick_grant(self, grant_type: str, client_grant_types: tuple[str, ...]) -> Grant:
        if grant_type not in client_grant_types:
            if grant_type in KNOWN_GRANT_TYPES or grant_type in self._grants:
                raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")
            raise UnsupportedGrantType()
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType()
        return grant
