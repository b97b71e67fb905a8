"""RFC 7009 §2: the token revocation endpoint.

reject repeated parameters (SEC-69) → authenticate the client (§2.1: confidential clients with
their credentials, public clients by their `client_id`) → find the token → revoke it if, and only if,
it was issued to this client → 200.

§2.2: the answer is 200 whether or not anything was revoked — an unknown, expired or already
revoked token, and a token of another client (which is left untouched, SEC-36), all look alike, so
the endpoint tells a caller nothing about tokens it does not own. What is revoked (§2.1):

- a refresh token → its whole grant: the refresh-token family and every access token of the grant,
  which introspect inactive from then on (SEC-36);
- an opaque access token → that token;
- a JWT access token → its grant (a JWT cannot be recalled one by one; resource servers that verify
  it locally keep accepting it until it expires — the access-token lifetime bounds that).

`token_type_hint` only speeds the search up: our token formats are recognisable, and §2.1 says an
invalid hint is ignored, so this endpoint never answers `unsupported_token_type` (§2.2.1): every
kind of token it issues can be revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.introspection import TokenKind, endpoint_params
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.errors import OAuthError, TemporarilyUnavailable
from ostiary.oauth2.requests import OAuthRequest, required, single


@dataclass(frozen=True)
class RevocableToken:
    """A token this server issued and can still revoke, whatever its current state."""

    token_type: TokenKind
    client_id: str
    grant_id: str | None = None
    digest: str | None = None  # set for opaque access tokens, which are revoked one by one


class TokenLocator(Protocol):
    async def locate(self, token: str, token_type_hint: str | None = None) -> RevocableToken | None:
        """The token (any state, expired JWTs excepted), or None if this server never issued it."""
        ...


class TokenRevoker(Protocol):
    async def revoke_token(self, token: RevocableToken) -> None:
        """Revoke `token` as described in this module's docstring; idempotent."""
        ...


class RevocationEndpoint:
    def __init__(
        self, authenticator: ClientAuthenticator, locator: TokenLocator, revoker: TokenRevoker
    ) -> None:
        self._authenticator = authenticator
        self._locator = locator
        self._revoker = revoker

    async def handle(self, request: OAuthRequest) -> TokenResponse:
        try:
            params = endpoint_params(request, "revocation")
            client = await self._authenticator.authenticate(request, params)
            token = required(params, "token")
            found = await self._locator.locate(token, single(params, "token_type_hint"))
            # §2.1: the server verifies that the token was issued to the client asking; a token of
            # another client is not revoked, and the answer does not say so.
            if found is not None and found.client_id == client.client_id:
                await self._revoker.revoke_token(found)
        except OAuthError as exc:
            return TokenResponse(exc.status, exc.to_json(), exc.headers)
        except StoreUnavailable:
            # §2.2.1: the client may retry; a revocation that did not happen must not look done.
            error = TemporarilyUnavailable()
            return TokenResponse(error.status, error.to_json(), {**error.headers, "Retry-After": "5"})
        return TokenResponse(200, {})
