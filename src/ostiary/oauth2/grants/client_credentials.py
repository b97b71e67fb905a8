"""RFC 6749 §4.4: the client credentials grant — a confidential client acting for itself.

No refresh token (§4.4.3 says one SHOULD NOT be issued; SEC-32): the client can always authenticate
again. The subject is `client:<client_id>`, a namespace no user `sub` can enter (SEC-32). Scopes
are checked strictly against the client's allowed set — there is no consent screen that would show
a silent downscope, and silently granting unconfigured scopes was authentik CVE-2024-52287 (SEC-34).
"""

from __future__ import annotations

from ostiary.oauth2.codes import new_grant_id
from ostiary.oauth2.errors import InvalidScope, ServerError, UnauthorizedClient
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import GrantContext, TokenMinter, TokenSet, client_subject
from ostiary.oauth2.requests import single
from ostiary.oauth2.scopes import USER_ONLY_SCOPES, parse_scope


class ClientCredentialsGrant:
    grant_type = "client_credentials"

    def __init__(self, minter: TokenMinter) -> None:
        self._minter = minter

    async def handle(self, request: TokenRequest) -> TokenSet:
        client = request.client
        if not client.is_confidential:
            raise UnauthorizedClient("Only confidential clients may use client_credentials.")
        requested = parse_scope(single(request.params, "scope"))
        if any(s in USER_ONLY_SCOPES for s in requested):
            raise InvalidScope("User scopes (openid, offline_access, …) need a user.")
        if not requested:
            # §3.3: without a scope parameter, the pre-defined default is everything allowed.
            requested = tuple(s for s in client.scopes if s not in USER_ONLY_SCOPES)
        elif not set(requested) <= set(client.scopes):
            raise InvalidScope("A requested scope is not allowed for this client.")
        tokens = await self._minter.mint(
            GrantContext(
                client=client,
                grant_type=self.grant_type,
                grant_id=new_grant_id(),
                new_grant=True,
                subject=client_subject(client.client_id),
                scope=requested,
                refresh_token_allowed=False,
            )
        )
        if tokens.refresh_token is not None or tokens.id_token is not None:
            raise ServerError()  # a minter bug; fail closed rather than hand them out
        return tokens
