"""API keys (docs/api_keys.md): the stored half of a user's long-lived credentials (SEC-52..54).

A stateful key's secret is stored only as the SHA-256 digest of the whole key, next to its public
lookup `prefix` (unique). A stateless key (a signed JWT) is stored only as metadata under its `jti`
(= `id`): it is verified without reading this row, which exists to list it and to revoke it.

`revoked_at` is the moment a key stops working: "now" for a revocation, "now + grace" for the key
a rotation replaced. Revocations and rotations bump the authorization version in their transaction,
which is what lets every worker drop a cached key within the version's staleness bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

ApiKeyKind = Literal["stateful", "stateless"]
CreateOutcome = Literal["created", "prefix_taken", "limit_reached"]
RotateOutcome = Literal["rotated", "prefix_taken", "not_live"]


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str  # also the `jti` of a stateless key
    kind: ApiKeyKind
    user_id: str
    name: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float
    prefix: str | None = None  # stateful only: the public lookup part of the key
    digest: str | None = None  # stateful only: SHA-256 (hex) of the whole key
    last_used_at: float | None = None
    last_used_ip: str | None = None
    revoked_at: float | None = None
    revoke_reason: str | None = None
    rotated_from: str | None = None  # the key this one replaced
    replaced_by: str | None = None  # the key that replaced this one

    def live_at(self, now: float) -> bool:
        return now < self.expires_at and (self.revoked_at is None or now < self.revoked_at)


class ApiKeyStore(Protocol):
    """Lifecycle: create, read, list, revoke, rotate."""

    async def create(self, record: ApiKeyRecord, *, max_live: int | None = None) -> CreateOutcome:
        """Insert the key, unless its prefix is taken (the caller draws another) or, with `max_live`,
        its owner already holds that many live keys (counted under a lock on the owner's row, so
        concurrent creations cannot overshoot)."""
        ...

    async def get(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_user(self, user_id: str) -> list[ApiKeyRecord]:
        """Every key of the user, newest first, revoked and expired ones included."""
        ...

    async def revoke(self, key_id: str, *, now: float, reason: str) -> ApiKeyRecord | None:
        """Stop a live key now (a pending rotation grace is cut short) and bump the authorization
        version; the updated record, or None when the key is unknown or already dead (so of
        concurrent revocations exactly one gets the record)."""
        ...

    async def rotate(self, old_id: str, new: ApiKeyRecord, *, now: float, grace: float) -> RotateOutcome:
        """In one unit of work: mark the live, not yet replaced key `old_id` as replaced by `new`,
        set its `revoked_at` to `now + grace`, insert `new` and bump the version. No change when
        `new`'s prefix is taken or `old_id` is not live or already replaced (so of concurrent
        rotations of one key exactly one wins)."""
        ...


class ApiKeyLookup(Protocol):
    """The authentication side: what a request needs, and the light write of last use."""

    async def find_by_prefix(self, prefix: str) -> ApiKeyRecord | None: ...

    async def touch(self, key_id: str, *, now: float, ip: str | None, min_interval: float) -> bool:
        """Record a use unless one was recorded less than `min_interval` seconds before `now`."""
        ...

    async def revoked_stateless(self, *, now: float) -> Mapping[str, float]:
        """`jti → revoked_at` of every stateless key with a revocation (past or pending) that has
        not expired yet: the revocation list a stateless key is checked against."""
        ...
