"""Introspection's view of a token (RFC 7662 §2.2, SEC-36): what `TokenInspector` answers for a JWT,
opaque or refresh token, and whether its client may still be shown as active (`ClientStatus`).

Introspection is a hot path: a JWT's verified claims come from a digest-keyed cache, revoked grants
from memory (compose/revoked_grant_cache.py), clients from the ~1 s client cache; only opaque and
refresh tokens, and a user token's user, are read per request.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ostiary.compose.client_cache import CachedClientStore
from ostiary.compose.not_before import issued_before, jwt_issued_ms, millis, user_accepts
from ostiary.compose.oauth_tokens import GRANT_ID_CLAIM, MAX_TOKEN_CHARS, OPAQUE_TOKEN_PREFIX, opaque_digest
from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier
from ostiary.oauth2.endpoints.introspection import TokenView
from ostiary.oauth2.endpoints.revocation import RevocableToken
from ostiary.oauth2.minting import CLIENT_SUBJECT_PREFIX
from ostiary.oidc.userinfo import UserById
from ostiary.storage.interfaces.oauth_grants import OpaqueTokenStore, RevokedGrantStore
from ostiary.storage.interfaces.refresh_tokens import RefreshTokenStore
from ostiary.tokens.refresh import TOKEN_PREFIX as REFRESH_TOKEN_PREFIX
from ostiary.tokens.refresh import digest_of
from ostiary.tokens.service import FIRST_PARTY_CLIENT
from ostiary.tokens.verified_cache import VerifiedTokenCache


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
        if user is None or not user_accepts(user, issued_ms):
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
            claims, kid = self._verifier.verify_with_kid(token)
        except InvalidToken:
            return None
        if self._verified is not None:
            self._verified.put(key, claims, float(claims["exp"]), kid)
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
