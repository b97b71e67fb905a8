"""First-party token grants: a password login, a refresh and a revocation turned into token pairs.

The access token is an RFC 9068 JWT whose `scope` is the set of permissions granted to it (the
user's permissions at issue time, narrowed to what was asked for), with `sid` = the refresh-token
family so that state-consulting checks (introspection, later) can see a revocation. Resource servers
verify it without state, so a revocation or a permission removal reaches them within the access-token
TTL at the latest (SEC-58, docs/tokens.md). Every refresh re-reads the user: a disabled user's refresh
fails (SEC-12) and a removed permission is not granted again (the family's scope is only narrowed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from ostiary.core.context import RequestMeta
from ostiary.core.errors import InvalidCredentials
from ostiary.core.principal import Principal
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily
from ostiary.storage.interfaces.users import UserRecord
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.refresh import InvalidGrant, RefreshTokens

FIRST_PARTY_CLIENT = "ostiary"


class UserLookup(Protocol):
    async def for_user(self, user_id: str) -> tuple[UserRecord, Principal] | None: ...


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    family_id: str
    replayed: bool = False
    early: bool = False

    def body(self, *, include_refresh: bool = True) -> dict[str, object]:
        """RFC 6749 §5.1 response members."""
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if include_refresh:
            body["refresh_token"] = self.refresh_token
        return body


def grant_scope(permissions: frozenset[str], requested: str | None) -> str:
    """What the token may do: the requested permissions the user holds (all of them by default)."""
    wanted = permissions if requested is None else frozenset(requested.split())
    return " ".join(sorted(permissions & wanted))


class TokenService:
    def __init__(
        self, issuer: AccessTokenIssuer, refresh: RefreshTokens, users: UserLookup, audience: str
    ) -> None:
        self._issuer = issuer
        self.refresh_tokens = refresh
        self._users = users
        self._audience = audience

    async def login(
        self,
        user_id: str,
        meta: RequestMeta,
        *,
        auth_time: float,
        requested_scope: str | None = None,
        client_id: str = FIRST_PARTY_CLIENT,
    ) -> TokenPair:
        found = await self._users.for_user(user_id)
        if found is None:
            raise InvalidCredentials()
        user, principal = found
        scope = grant_scope(principal.permissions, requested_scope)
        value, family = await self.refresh_tokens.start(user.id, client_id, meta.user_agent, scope, auth_time)
        return await self._pair(user, family, scope, value)

    async def refresh(
        self, presented: str, meta: RequestMeta, *, client_id: str = FIRST_PARTY_CLIENT
    ) -> TokenPair:
        rotation = await self.refresh_tokens.redeem(presented, client_id=client_id, meta=meta)
        family = rotation.family
        found = await self._users.for_user(family.user_id)
        if found is None:  # disabled or deleted since the login (SEC-12)
            await self.refresh_tokens.revoke_family(family.id, reason="user_disabled")
            raise InvalidGrant()
        user, principal = found
        scope = grant_scope(principal.permissions, family.scope)
        pair = await self._pair(user, family, scope, rotation.refresh_token)
        return replace(pair, replayed=rotation.replayed, early=rotation.early)

    async def _pair(
        self, user: UserRecord, family: RefreshFamily, scope: str, refresh_token: str
    ) -> TokenPair:
        access = await self._issuer.issue(
            user.id,
            self._audience,
            family.client_id,
            scope,
            extra_claims={
                "sid": family.id,
                "auth_time": int(family.auth_time),
                "preferred_username": user.username,
            },
        )
        return TokenPair(access.token, refresh_token, access.expires_in, scope, family.id)
