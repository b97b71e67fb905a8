"""RFC 6749 §6: refreshing an access token, with RFC 9700 §4.14.2 rotation and reuse detection.

`RefreshTokens.redeem` does the hard part: the presented token must belong to this client and be
the newest of a live family, and it is rotated through one conditional write so that concurrent
uses yield one successor (SEC-74); reuse of a rotated token revokes the family (SEC-35). Public
clients may use this grant too: they cannot authenticate, so rotation is what protects them.

After rotation the grant narrows the scope (§6: a requested `scope` may only drop scopes, never
add one) and re-checks the user: a disabled or deleted user ends the family on the spot (SEC-12),
and scopes whose permission the user lost, or that the client may no longer request, are dropped
from the new access token. The family keeps its original scope (§6: a new refresh token has the
scope of the one it replaces), so a narrowed refresh does not shrink later ones.

A requested scope wider than the family's is refused *before* rotating (`RefreshTokens.peek`
reads the family without spending the token), so an `invalid_scope` answer leaves the presented
token usable. It is checked again after rotation, for a token `peek` left to `redeem` (a retry
inside the retry window gets its successor back only for a valid request).

The successor lives for the client's idle lifetime (`ClientLifetimes.refresh_token_idle`), capped
by the server's; the family's absolute lifetime was fixed when it was started.
"""

from __future__ import annotations

import logging

from ostiary.oauth2.errors import InvalidGrant, InvalidScope, ServerError
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import GrantContext, TokenMinter, TokenSet
from ostiary.oauth2.requests import required, single
from ostiary.oauth2.scopes import intersect, parse_scope
from ostiary.oauth2.users import GrantUsers, request_meta
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily
from ostiary.tokens import refresh

log = logging.getLogger("ostiary.oauth2")


class RefreshTokenGrant:
    grant_type = "refresh_token"

    def __init__(self, refresh_tokens: refresh.RefreshTokens, minter: TokenMinter, users: GrantUsers) -> None:
        self._refresh = refresh_tokens
        self._minter = minter
        self._users = users

    async def handle(self, request: TokenRequest) -> TokenSet:
        presented = required(request.params, "refresh_token")
        requested = parse_scope(single(request.params, "scope"))  # malformed: refused before rotating
        client = request.client
        if requested:  # without `scope` nothing can be too wide: no extra read
            peeked = await self._refresh.peek(presented, client_id=client.client_id)
            if peeked is not None:
                self._narrow(peeked, requested)  # an over-wide scope must not spend the token
        try:
            rotation = await self._refresh.redeem(
                presented,
                client_id=client.client_id,
                meta=request_meta(request.request),
                idle_seconds=client.lifetimes.refresh_token_idle,
            )
        except refresh.InvalidGrant:
            raise InvalidGrant(
                "The refresh token is invalid, expired, revoked or was issued to another client."
            ) from None
        family = rotation.family
        if family.client_id != client.client_id:  # redeem checks this too; a mismatch here is a bug
            raise InvalidGrant("The refresh token was issued to another client.")
        scope = self._narrow(family, requested)
        grantable = await self._users.grantable_scopes(family.user_id, scope)
        if grantable is None:
            await self._refresh.revoke_family(family.id, reason="user_disabled")
            log.info(
                "refresh refused for an unknown or disabled user; family revoked", extra={"family": family.id}
            )
            raise InvalidGrant("The user of this refresh token can no longer be granted tokens.")
        # Also within what the client may request today: an administrator's removal of a scope from
        # the client must reach its existing refresh tokens, not only new authorizations.
        scope = intersect(intersect(scope, grantable), client.scopes)
        if not scope and requested:
            raise InvalidScope("None of the requested scopes can be granted any more.")
        if not scope:
            # Its successor was never handed out, so the family is of no use to anyone: end it now
            # rather than let a later retry look like token theft.
            await self._refresh.revoke_family(family.id, reason="scope_withdrawn")
            raise InvalidGrant("None of the scopes of this refresh token can be granted any more.")
        tokens = await self._minter.mint(
            GrantContext(
                client=client,
                grant_type=self.grant_type,
                grant_id=family.id,
                subject=family.user_id,
                scope=scope,
                user_id=family.user_id,
                auth_time=family.auth_time,
                refresh_token_allowed=True,
                rotated_refresh_token=rotation.refresh_token,
            )
        )
        if tokens.refresh_token != rotation.refresh_token:
            # The client would lose its family (or hold two): a minter bug, so fail closed.
            raise ServerError()
        return tokens

    @staticmethod
    def _narrow(family: RefreshFamily, requested: tuple[str, ...]) -> tuple[str, ...]:
        granted = tuple(family.scope.split())
        if not requested:
            return granted  # §6: omitted means the scope originally granted
        if not set(requested) <= set(granted):
            raise InvalidScope("The requested scope exceeds the scope originally granted.")
        return requested
