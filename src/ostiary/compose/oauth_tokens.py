"""RFC 6749 §5.1, RFC 7009, RFC 7662: how OAuth tokens are minted, found and revoked.

`OAuthTokenMinter` binds the protocol core's `TokenMinter` to the RFC 9068 JWT issuer or to opaque
tokens (per client), the refresh-token families and the ID-token signer. `OAuthGrantRevoker` kills a
grant and remembers it; `TokenInspector` (compose/token_inspector.py) answers introspection,
UserInfo and revocation look-ups.

The SEC-29 race. A replayed code may be detected while its first redemption is still minting. The
revoker therefore *first* remembers the grant as revoked, then revokes what exists; the minter checks
the grant before it starts and *again after* persisting, undoing what it persisted if the grant was
revoked meanwhile. Either the re-check sees the revocation (and the minter undoes and refuses), or
it ran before the revocation was remembered — then everything was persisted before the revoker went
looking for it, and the revoker finds and revokes it. JWT access tokens are never persisted: they
carry `grant_id`, and introspection refuses any token of a remembered grant.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from ostiary.compose.not_before import millis, user_accepts
from ostiary.compose.tokens import LEEWAY, MAX_TOKEN_LIFETIME
from ostiary.core.clock import Clock
from ostiary.core.secrets import sha256_hex
from ostiary.oauth2.endpoints.revocation import RevocableToken
from ostiary.oauth2.errors import InvalidGrant, ServerError
from ostiary.oauth2.minting import GrantContext, TokenSet
from ostiary.oauth2.scopes import format_scope
from ostiary.oidc.id_tokens import IdTokenSigner
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken, OpaqueTokenStore, RevokedGrantStore
from ostiary.storage.interfaces.users import UserStore
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.refresh import RefreshTokens

log = logging.getLogger("ostiary.oauth2")

GRANT_REVOKED = "grant_revoked"  # the family-revocation reason of `OAuthGrantRevoker.revoke_grant`
OPAQUE_TOKEN_PREFIX = "oat_"  # lets secret scanners recognise a leaked ostiary access token
OPAQUE_TOKEN_BYTES = 32  # 256 bits (SEC-40 asks for ≥ 128)
GRANT_ID_CLAIM = "grant_id"  # in JWT access tokens: which grant to check for revocation
MAX_TOKEN_CHARS = 8192


def new_opaque_token() -> str:
    return OPAQUE_TOKEN_PREFIX + secrets.token_urlsafe(OPAQUE_TOKEN_BYTES)


def opaque_digest(token: str) -> str:
    return sha256_hex(token)


def wants_refresh_token(ctx: GrantContext) -> bool:
    """A new refresh family? Never without a user (client_credentials, SEC-32); for OpenID requests
    only with `offline_access` (OIDC Core §11); and only if the grant allows one at all."""
    if ctx.user_id is None or ctx.grant_type == "client_credentials" or not ctx.refresh_token_allowed:
        return False
    return "openid" not in ctx.scope or "offline_access" in ctx.scope


class OAuthTokenMinter:
    """Implements `oauth2.minting.TokenMinter`."""

    def __init__(
        self,
        *,
        access_tokens: AccessTokenIssuer,
        audience: str,
        id_tokens: IdTokenSigner,
        refresh: RefreshTokens,
        opaque: OpaqueTokenStore,
        revoked: RevokedGrantStore,
        users: UserStore,
        clock: Clock,
    ) -> None:
        self._access = access_tokens
        self._users = users
        self._audience = audience
        self._id_tokens = id_tokens
        self._refresh = refresh
        self._opaque = opaque
        self._revoked = revoked
        self._clock = clock

    async def mint(self, ctx: GrantContext) -> TokenSet:
        if ctx.user_id is None and ctx.rotated_refresh_token is not None:
            raise ServerError()  # a grant bug: a refresh token always belongs to a user
        if not ctx.new_grant and await self._revoked.is_revoked(ctx.grant_id):
            raise InvalidGrant("The authorization grant has been revoked.")
        if ctx.user_id is not None and ctx.authorized_at is not None:
            await self._check_user_still_authorizes(ctx.user_id, ctx.authorized_at)
        # Everything that can fail without side effects (signing) happens before anything is stored.
        access_token, expires_in, opaque_record = await self._access_token(ctx)
        id_token = self._id_token(ctx, access_token)
        refresh_token: str | None = None
        try:
            if opaque_record is not None:
                await self._opaque.save(opaque_record)
            refresh_token = await self._refresh_token(ctx)
            if not ctx.new_grant and await self._revoked.is_revoked(ctx.grant_id):  # module docstring
                raise InvalidGrant("The authorization grant has been revoked.")
        except BaseException:
            await self._undo(ctx, opaque_record, refresh_token)
            raise
        return TokenSet(
            access_token=access_token,
            expires_in=expires_in,
            scope=ctx.scope,
            refresh_token=refresh_token,
            id_token=id_token,
        )

    async def _check_user_still_authorizes(self, user_id: str, authorized_at: float) -> None:
        """An authorization given before the user's not-before (a password change or reset, a
        disable, a lockout, an administrator's sign-out) or by a user since disabled or deleted
        mints nothing (compose/not_before.py)."""
        user = await self._users.get(user_id)
        if user is None or not user_accepts(user, millis(authorized_at)):
            raise InvalidGrant("The authorization is no longer valid. Sign in and authorize again.")

    async def _access_token(self, ctx: GrantContext) -> tuple[str, int, OpaqueAccessToken | None]:
        client, lifetime = ctx.client, ctx.client.lifetimes.access_token
        if client.access_token_format == "opaque":
            token, now = new_opaque_token(), self._clock.now()
            record = OpaqueAccessToken(
                digest=opaque_digest(token),
                client_id=client.client_id,
                subject=ctx.subject,
                scope=ctx.scope,
                grant_id=ctx.grant_id,
                issued_at=now,
                expires_at=now + lifetime,
                user_id=ctx.user_id,
                auth_time=ctx.auth_time,
                sid=ctx.sid,
            )
            return token, lifetime, record
        extra: dict[str, Any] = {GRANT_ID_CLAIM: ctx.grant_id}
        if ctx.auth_time is not None:  # RFC 9068 §2.2.1
            extra["auth_time"] = math.floor(ctx.auth_time)
        if ctx.acr is not None:
            extra["acr"] = ctx.acr
        if ctx.amr:
            extra["amr"] = list(ctx.amr)
        issued = await self._access.issue(
            ctx.subject,
            self._audience,
            client.client_id,
            format_scope(ctx.scope),
            extra_claims=extra,
            lifetime=lifetime,
        )
        return issued.token, issued.expires_in, None

    def _id_token(self, ctx: GrantContext, access_token: str) -> str | None:
        if "openid" not in ctx.scope or ctx.user_id is None:
            return None
        try:
            return self._id_tokens.sign(
                client=ctx.client,
                subject=ctx.subject,
                lifetime=min(ctx.client.lifetimes.id_token, MAX_TOKEN_LIFETIME),
                auth_time=ctx.auth_time,
                nonce=ctx.nonce,
                amr=ctx.amr,
                acr=ctx.acr,
                sid=ctx.sid,
                access_token=access_token,
            )
        except LookupError:
            log.error(
                "no active signing key for the ID-token algorithm of client %s (%s)",
                ctx.client.client_id,
                ctx.client.id_token_signed_response_alg,
            )
            raise ServerError() from None

    async def _refresh_token(self, ctx: GrantContext) -> str | None:
        if ctx.rotated_refresh_token is not None:
            return ctx.rotated_refresh_token  # the refresh grant rotated it already
        if not wants_refresh_token(ctx) or ctx.user_id is None:
            return None
        value, _ = await self._refresh.start(
            ctx.user_id,
            ctx.client.client_id,
            ctx.client.name,
            format_scope(ctx.scope),
            ctx.auth_time if ctx.auth_time is not None else self._clock.now(),
            family_id=ctx.grant_id,  # so that revoking the grant finds the family
            absolute_seconds=ctx.client.lifetimes.refresh_token,  # capped by the server's
            idle_seconds=ctx.client.lifetimes.refresh_token_idle,
        )
        return value

    async def _undo(self, ctx: GrantContext, opaque: OpaqueAccessToken | None, refresh: str | None) -> None:
        try:
            if opaque is not None:
                await self._opaque.revoke(opaque.digest)
            if refresh is not None:
                await self._refresh.revoke_family(ctx.grant_id, reason=GRANT_REVOKED)
        except Exception:
            # The tokens were never handed out; the revoker of the grant still finds them.
            log.exception("could not undo tokens of grant %s", ctx.grant_id)


class OAuthGrantRevoker:
    """Implements `oauth2.minting.GrantRevoker` and `oauth2.endpoints.revocation.TokenRevoker`."""

    def __init__(
        self,
        *,
        revoked: RevokedGrantStore,
        refresh: RefreshTokens,
        opaque: OpaqueTokenStore,
        clock: Clock,
        remember_seconds: float | None = None,
    ) -> None:
        self._revoked = revoked
        self._refresh = refresh
        self._opaque = opaque
        self._clock = clock
        # Long enough to outlive every token the grant could have: the longest refresh family.
        self._remember = remember_seconds or (
            max(refresh.config.absolute_seconds, MAX_TOKEN_LIFETIME) + LEEWAY
        )

    async def revoke_grant(self, grant_id: str) -> None:
        now = self._clock.now()
        await self._revoked.revoke(grant_id, at=now, remember_until=now + self._remember)  # first
        await self._refresh.revoke_family(grant_id, reason=GRANT_REVOKED)
        await self._opaque.revoke_grant(grant_id)

    async def family_revoked(self, family_id: str, reason: str) -> None:
        """`RefreshTokens.on_family_revoked`: a family ended on its own (reuse detected, revoked
        through a token, a disabled user) ends its grant's access tokens too (SEC-35).

        The family was minted and is now dead, so nothing new can be minted for the grant: it is
        remembered only as long as an access token of it can live. First-party families are told
        too; their ids are random and marking one is harmless.
        """
        if reason == GRANT_REVOKED:
            return  # `revoke_grant` revoked the family and does the rest itself
        now = self._clock.now()
        await self._revoked.revoke(family_id, at=now, remember_until=now + MAX_TOKEN_LIFETIME + LEEWAY)
        await self._opaque.revoke_grant(family_id)

    async def revoke_client(self, client_id: str) -> tuple[int, int]:
        """A disabled client: end its refresh-token families and opaque access tokens for good, so
        that enabling it again does not bring them back. Returns (families, opaque tokens)."""
        families = await self._refresh.revoke_client(client_id, reason="client_disabled")
        return families, await self._opaque.revoke_client(client_id)

    async def revoke_token(self, token: RevocableToken) -> None:
        if token.digest is not None:
            await self._opaque.revoke(token.digest)
        elif token.grant_id is not None:
            await self.revoke_grant(token.grant_id)
