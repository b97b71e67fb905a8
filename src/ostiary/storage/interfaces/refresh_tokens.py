"""Refresh tokens at rest (RFC 6749 §10.4, RFC 9700 §4.14.2): digests, families, atomic rotation.

A *family* is one login on one device and every token rotated from it. Tokens are stored by the
SHA-256 digest of their value only. `rotate` is the single conditional write that makes rotation
race-safe (SEC-74): of N concurrent calls with the same digest exactly one returns True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

TokenState = Literal["active", "rotated", "revoked"]


@dataclass(frozen=True)
class RefreshFamily:
    id: str
    user_id: str
    client_id: str
    device: str  # a label for the user (the login's user agent), never used for decisions
    scope: str
    auth_time: float
    created_at: float
    last_used_at: float
    expires_at: float  # absolute expiry of every token of the family
    access_expires_at: float  # expiry of the last access token issued in the family
    revoked_at: float | None = None
    revoke_reason: str | None = None

    def live(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class RefreshTokenRecord:
    digest: str
    family_id: str
    state: TokenState
    created_at: float
    expires_at: float  # sliding (idle) expiry, never past the family's absolute expiry
    rotated_at: float | None = None
    parent_digest: str | None = None
    successor_digest: str | None = None
    replay: bytes | None = None  # the successor's value, AES-GCM sealed (opaque to stores)


class RefreshTokenStore(Protocol):
    async def create_family(self, family: RefreshFamily, first: RefreshTokenRecord) -> None:
        """Insert a new family and its first token in one transaction."""
        ...

    async def get(self, digest: str) -> tuple[RefreshTokenRecord, RefreshFamily] | None:
        """The token and its family, or None for an unknown digest."""
        ...

    async def rotate(
        self, digest: str, successor: RefreshTokenRecord, *, at: float, access_expires_at: float
    ) -> bool:
        """Atomically: if `digest` is `active` and its family is not revoked, mark it `rotated`
        (rotated_at=at, successor_digest, replay=successor.replay), insert `successor` (whose
        `replay` is not stored on the successor itself), clear the replay of the token `digest`
        was rotated from (only the newest rotation can be replayed), and update the family's
        last_used_at/access_expires_at. All or nothing; returns False and changes nothing when the
        token was not active (another caller won the race, or it was revoked)."""
        ...

    async def revoke_family(
        self, family_id: str, *, at: float, reason: str, user_id: str | None = None
    ) -> bool:
        """Revoke a live family and all its tokens; with `user_id`, only if it is that user's.
        True if a live family was revoked by this call."""
        ...

    async def revoke_user(self, user_id: str, *, at: float, reason: str) -> int:
        """Revoke every live family of a user; returns how many."""
        ...


class RefreshFamilyIndex(Protocol):
    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        """The user's live families (not revoked, not past absolute expiry), oldest first."""
        ...

    async def purge(self, *, before: float) -> int:
        """Delete families that ended (revoked or expired) before `before`, with their tokens."""
        ...

    async def revoke_client(self, client_id: str, *, at: float, reason: str) -> int:
        """Revoke every live family of a client (one that was disabled) and all their tokens;
        returns how many families this call revoked."""
        ...
