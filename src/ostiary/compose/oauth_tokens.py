"""RFC 6749 §5.1, RFC 7009, RFC 7662: how OAuth tokens are minted, found and revoked.

`OAuthTokenMinter` binds the protocol core's `TokenMinter` to the RFC 9068 JWT issuer or to opaque
tokens (per client), the refresh-token families and the ID-token signer. `OAuthGrantRevoker` kills a
grant and remembers it; `TokenInspector` answers introspection, UserInfo and revocation look-ups.

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
from dataclasses import replace
from typing import Any

from ostiary.compose.client_cache import CachedClientStore
from ostiary.compose.not_before import issued_before, jwt_issued_ms, millis
from ostiary.compose.tokens import LEEWAY, MAX_TOKEN_LIFETIME
from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier
from ostiary.core.secrets import sha256_hex
from ostiary.oauth2.endpoints.introspection import TokenView
from ostiary.oauth2.endpoints.revocation import RevocableToken
from ostiary.oauth2.errors import InvalidGrant, ServerError
from ostiary.oauth2.minting import CLIENT_SUBJECT_PREFIX, GrantContext, TokenSet
from ostiary.oauth2.scopes import format_scope
from ostiary.oidc.id_tokens import IdTokenSigner
from ostiary.oidc.userinfo import UserById
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken, OpaqueTokenStore, RevokedGrantStore
from ostiary.storage.interfaces.refresh_tokens import RefreshTokenStore
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.refresh import TOKEN_PREFIX as REFRESH_TOKEN_PREFIX
from ostiary.tokens.refresh import RefreshTokens, digest_of
from ostiary.tokens.service import FIRST_PARTY_CLIENT
from ostiary.tokens.verified_cache import VerifiedTokenCache

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
        clock: Clock,
    ) -> None:
        self._access = access_tokens
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
        # Everything that can fail without side effects (signing) happens before anything is stored.
        access_token, expires_in, opaque_record = self._access_token(ctx)
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

    def _access_token(self, ctx: GrantContext) -> tuple[str, int, OpaqueAccessToken | None]:
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
        issued = self._access.issue(
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


class ClientStatus:
    """Whether a client's tokens may be shown as active: it exists and is not disabled (SEC-12), and
    an access token was not issued before the client's not-before (compose/not_before.py).

    Introspection is a hot path: answers come from the process's client cache (compose/client_cache.py,
    ~1 s, so a disable reaches every worker within it; `forget` makes it immediate in this one).
    Tokens of the first-party API (`FIRST_PARTY_CLIENT`, never a registered client) stay as they are.
    """

    def __init__(self, clients: CachedClientStore) -> None:
        self._clients = clients

    async def usable(self, client_id: str) -> bool:
        return await self.accepts(client_id, None)

    async def accepts(self, client_id: str, issued_ms: int | None) -> bool:
        """`issued_ms`: an access token's issue instant; None for a refresh token, which its family
        governs (disabling revokes the families; a rotated secret keeps them, see ClientRegistry)."""
        client = await self._clients.get(client_id)
        if client is None:
            return client_id == FIRST_PARTY_CLIENT
        if client.disabled:
            return False
        return issued_ms is None or not issued_before(issued_ms, client.tokens_not_before)

    def forget(self, client_id: str) -> None:
        self._clients.forget(client_id)


class TokenInspector:
    """Implements `oauth2.endpoints.introspection.TokenInspector` and `revocation.TokenLocator`.

    The token's own shape says what it is (`oat_…` opaque, `ort_…` refresh, three dots-separated
    parts a JWT), so `token_type_hint` is not needed and is ignored (RFC 7662 §2.1, RFC 7009 §2.1).
    With `clients`, a token of a disabled (or unknown) client is inactive (SEC-12). A token issued
    before its user's or (access tokens) its client's not-before is inactive (compose/not_before.py):
    the user is re-read anyway, the client comes from the ~1 s client cache, so this adds no read.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        verifier: JwtVerifier,
        revoked: RevokedGrantStore,
        opaque: OpaqueTokenStore,
        refresh_store: RefreshTokenStore,
        clock: Clock,
        users: UserById | None = None,
        clients: ClientStatus | None = None,
        verified: VerifiedTokenCache[dict[str, Any]] | None = None,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._verifier = verifier
        self._revoked = revoked
        self._opaque = opaque
        self._refresh_store = refresh_store
        self._clock = clock
        self._users = users
        self.clients = clients
        # Resource servers introspect the same token again and again: its signature is checked once.
        self._verified = verified

    async def inspect(self, token: str, token_type_hint: str | None = None) -> TokenView | None:
        if len(token) > MAX_TOKEN_CHARS:
            return None
        found: tuple[TokenView, int] | None  # the view and the token's issue instant in ms
        if token.startswith(OPAQUE_TOKEN_PREFIX):
            found = await self._opaque_view(token)
        elif token.startswith(REFRESH_TOKEN_PREFIX):
            found = await self._refresh_view(token)
        else:
            found = await self._jwt_view(token)
        if found is None:
            return None
        view, issued_ms = found
        access_issued = issued_ms if view.token_type == "access_token" else None
        if self.clients is not None and not await self.clients.accepts(view.client_id, access_issued):
            return None
        if view.user_id is None or self._users is None:
            return view
        # Re-read the user: a disabled or deleted user's tokens are inactive at once (SEC-12), and
        # so are those issued before a bulk revocation (password change, lockout, …).
        user = await self._users.get(view.user_id)
        if user is None or user.disabled or issued_before(issued_ms, user.tokens_not_before):
            return None
        return replace(view, username=user.username)

    async def locate(self, token: str, token_type_hint: str | None = None) -> RevocableToken | None:
        if len(token) > MAX_TOKEN_CHARS:
            return None
        if token.startswith(OPAQUE_TOKEN_PREFIX):
            digest = opaque_digest(token)
            record = await self._opaque.get(digest)
            if record is None:
                return None
            return RevocableToken("access_token", record.client_id, record.grant_id, digest=digest)
        if token.startswith(REFRESH_TOKEN_PREFIX):
            found = await self._refresh_store.get(digest_of(token))
            if found is None:
                return None
            return RevocableToken("refresh_token", found[1].client_id, found[1].id)
        claims = self._verified_claims(token)
        grant_id = claims.get(GRANT_ID_CLAIM) if claims else None
        client_id = claims.get("client_id") if claims else None
        if not isinstance(grant_id, str) or not isinstance(client_id, str):
            return None  # not ours, expired, or a first-party token (revoked through its family)
        return RevocableToken("access_token", client_id, grant_id)

    def _verified_claims(self, token: str) -> dict[str, Any] | None:
        key = self._verified.key(token) if self._verified is not None else b""
        if self._verified is not None and (cached := self._verified.get(key)) is not None:
            return cached
        try:
            claims = self._verifier.verify(token)
        except InvalidToken:
            return None
        if self._verified is not None:
            self._verified.put(key, token, claims, float(claims["exp"]))
        return claims

    async def _jwt_view(self, token: str) -> tuple[TokenView, int] | None:
        claims = self._verified_claims(token)
        if claims is None or self._clock.now() >= claims["exp"]:  # no leeway when we are asked
            return None
        client_id, scope = claims.get("client_id"), claims.get("scope", "")
        grant_id = claims.get(GRANT_ID_CLAIM)
        if not isinstance(client_id, str) or not isinstance(scope, str):
            return None
        if grant_id is not None and (
            not isinstance(grant_id, str) or await self._revoked.is_revoked(grant_id)
        ):
            return None
        subject: str = claims["sub"]
        jti = claims.get("jti")
        view = TokenView(
            token_type="access_token",
            client_id=client_id,
            subject=subject,
            scope=tuple(scope.split()),
            expires_at=math.floor(claims["exp"]),
            issued_at=math.floor(claims["iat"]),
            issuer=self._issuer,
            user_id=None if subject.startswith(CLIENT_SUBJECT_PREFIX) else subject,
            audience=_audience(claims.get("aud")),
            jti=jti if isinstance(jti, str) else None,
            grant_id=grant_id,
        )
        return view, jwt_issued_ms(claims)

    async def _opaque_view(self, token: str) -> tuple[TokenView, int] | None:
        record = await self._opaque.get(opaque_digest(token))
        if record is None or self._clock.now() >= record.expires_at:
            return None
        view = TokenView(
            token_type="access_token",
            client_id=record.client_id,
            subject=record.subject,
            scope=record.scope,
            expires_at=math.floor(record.expires_at),
            issued_at=math.floor(record.issued_at),
            issuer=self._issuer,
            user_id=record.user_id,
            audience=self._audience,
            grant_id=record.grant_id,
        )
        return view, millis(record.issued_at)

    async def _refresh_view(self, token: str) -> tuple[TokenView, int] | None:
        found = await self._refresh_store.get(digest_of(token))
        if found is None:
            return None
        record, family = found
        now = self._clock.now()
        if record.state != "active" or now >= record.expires_at or not family.live(now):
            return None
        view = TokenView(
            token_type="refresh_token",
            client_id=family.client_id,
            subject=family.user_id,
            scope=tuple(family.scope.split()),
            expires_at=math.floor(record.expires_at),
            issued_at=math.floor(record.created_at),
            issuer=self._issuer,
            user_id=family.user_id,
            grant_id=family.id,
        )
        return view, millis(family.created_at)  # the family: a rotation does not renew its login


def _audience(aud: object) -> str | tuple[str, ...] | None:
    if isinstance(aud, str):
        return aud
    return tuple(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else None
