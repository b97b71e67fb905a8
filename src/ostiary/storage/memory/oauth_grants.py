"""In-memory revoked grants and opaque access tokens (RFC 7009, RFC 7662) for tests and embedding."""

from __future__ import annotations

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken, RevokedGrant


class MemoryRevokedGrantStore:
    """Implements RevokedGrantFeed. A revocation is forgotten once `remember_until` has passed."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._grants: dict[str, RevokedGrant] = {}

    async def revoke(self, grant_id: str, *, at: float, remember_until: float) -> None:
        self._purge()
        # Idempotent, and a second revocation never shortens what the first promised to remember.
        earlier = self._grants.get(grant_id)
        if earlier is not None:
            at, remember_until = max(at, earlier.revoked_at), max(remember_until, earlier.remember_until)
        self._grants[grant_id] = RevokedGrant(grant_id, at, remember_until)

    async def is_revoked(self, grant_id: str) -> bool:
        grant = self._grants.get(grant_id)
        return grant is not None and grant.remember_until > self._clock.now()

    async def revoked_since(self, since: float) -> list[RevokedGrant]:
        now = self._clock.now()
        return [g for g in self._grants.values() if g.revoked_at >= since and g.remember_until > now]

    def _purge(self) -> None:
        now = self._clock.now()
        for grant_id in [g.grant_id for g in self._grants.values() if g.remember_until <= now]:
            del self._grants[grant_id]


class MemoryOpaqueTokenStore:
    """Implements OpaqueTokenStore. A revoked token is deleted (nothing else ever needs it);
    tokens past `expires_at` are purged lazily on `save`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._tokens: dict[str, OpaqueAccessToken] = {}

    async def save(self, token: OpaqueAccessToken) -> None:
        self._purge()
        if token.digest in self._tokens:
            raise Conflict("opaque access-token digest collision")
        self._tokens[token.digest] = token

    async def get(self, digest: str) -> OpaqueAccessToken | None:
        return self._tokens.get(digest)

    async def revoke(self, digest: str) -> bool:
        return self._tokens.pop(digest, None) is not None

    async def revoke_grant(self, grant_id: str) -> int:
        doomed = [d for d, t in self._tokens.items() if t.grant_id == grant_id]
        for digest in doomed:
            del self._tokens[digest]
        return len(doomed)

    async def revoke_client(self, client_id: str) -> int:
        doomed = [d for d, t in self._tokens.items() if t.client_id == client_id]
        for digest in doomed:
            del self._tokens[digest]
        return len(doomed)

    def _purge(self) -> None:
        now = self._clock.now()
        for digest in [d for d, t in self._tokens.items() if t.expires_at < now]:
            del self._tokens[digest]
