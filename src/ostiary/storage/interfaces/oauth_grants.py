"""Revoked OAuth grants and opaque access tokens (RFC 6749 §4.1.2 / RFC 7009 / RFC 7662).

A *grant* is one authorization (a code redemption, a device approval, a client_credentials or
password exchange); every token minted for it carries its `grant_id`. Revoking a grant must also
refuse tokens minted for it *later* (a replayed code races its first redemption, SEC-29), hence a
remembered revocation. Opaque access tokens are random strings stored as SHA-256 digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class RevokedGrantStore(Protocol):
    async def revoke(self, grant_id: str, *, at: float, remember_until: float) -> None:
        """Remember `grant_id` as revoked until `remember_until` (idempotent)."""
        ...

    async def is_revoked(self, grant_id: str) -> bool: ...


@dataclass(frozen=True)
class RevokedGrant:
    grant_id: str
    revoked_at: float  # the latest revocation of the grant
    remember_until: float


class RevokedGrantFeed(RevokedGrantStore, Protocol):
    """A store that can also list its revocations by time, so that a process can keep the live ones
    in memory and catch up incrementally (compose/revoked_grant_cache.py) instead of reading per check."""

    async def revoked_since(self, since: float) -> list[RevokedGrant]:
        """Revocations with `revoked_at >= since` still remembered now (`remember_until` ahead)."""
        ...


@dataclass(frozen=True)
class OpaqueAccessToken:
    digest: str
    client_id: str
    subject: str  # user id, or `client:<client_id>`
    scope: tuple[str, ...]
    grant_id: str
    issued_at: float
    expires_at: float
    user_id: str | None = None
    auth_time: float | None = None
    sid: str | None = None


class OpaqueTokenStore(Protocol):
    async def save(self, token: OpaqueAccessToken) -> None:
        """Stores may evict it after `expires_at` (Redis: EXPIREAT)."""
        ...

    async def get(self, digest: str) -> OpaqueAccessToken | None:
        """The live token, or None if unknown or revoked (expiry is the caller's check)."""
        ...

    async def revoke(self, digest: str) -> bool:
        """True if a token was revoked by this call."""
        ...

    async def revoke_grant(self, grant_id: str) -> int:
        """Revoke every token of the grant; returns how many."""
        ...

    async def revoke_client(self, client_id: str) -> int:
        """Revoke every token issued to the client (one that was disabled); returns how many."""
        ...
