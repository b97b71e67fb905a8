"""The live revoked grants held in memory, so that checking a JWT's grant costs no database read.

Introspection and the refresh grant ask "is this grant revoked?" for every JWT access token (RFC 7662
§2.2, SEC-29). Against a SQL store that was one read per request, and the most expensive step of
introspection. `SyncedRevokedGrants` keeps every revocation still remembered in a dict and answers
from it, catching up from the store's feed (`revoked_since`) when its copy is older than `interval`:

- a revocation made through this object (this process) is seen at once;
- one made by another process is seen within `interval` (1 s by default) plus one read: the
  first check after the interval waits for the catch-up, which is one query shared by every
  concurrent check (single flight) and lists only the revocations of the last `overlap` seconds;
- `overlap` (60 s) re-reads recent revocations on each catch-up, so a revocation whose commit lands
  after a catch-up that started later than its `revoked_at` (a slow transaction, or another host's
  clock running behind by less than `overlap`) is still picked up at the next one;
- a failed catch-up fails the check (the exception propagates); nothing is answered from a copy
  older than `interval`;
- entries past `remember_until` are dropped at each catch-up, so memory holds the live revocations
  only (those of the last access-token lifetime).
"""

from __future__ import annotations

import asyncio

from ostiary.core.clock import Clock
from ostiary.storage.interfaces.oauth_grants import RevokedGrantFeed


class SyncedRevokedGrants:
    """Implements `RevokedGrantStore` over a `RevokedGrantFeed`."""

    def __init__(
        self, feed: RevokedGrantFeed, clock: Clock, *, interval: float = 1.0, overlap: float = 60.0
    ) -> None:
        if interval < 0 or overlap < 0:
            raise ValueError("interval and overlap must be ≥ 0")
        self._feed = feed
        self._clock = clock
        self._interval = interval
        self._overlap = overlap
        self._remember_until: dict[str, float] = {}
        self._synced_at: float | None = None  # when the last successful catch-up started
        self._since = float("-inf")  # the first catch-up loads every live revocation
        self._catching_up: asyncio.Task[None] | None = None

    async def revoke(self, grant_id: str, *, at: float, remember_until: float) -> None:
        await self._feed.revoke(grant_id, at=at, remember_until=remember_until)
        self._remember(grant_id, remember_until)

    async def is_revoked(self, grant_id: str) -> bool:
        now = self._clock.now()
        if self._synced_at is None or now - self._synced_at >= self._interval:
            await self._catch_up()
        until = self._remember_until.get(grant_id)
        return until is not None and until > now

    async def _catch_up(self) -> None:
        if self._catching_up is None:
            self._catching_up = asyncio.ensure_future(self._read_feed())
            self._catching_up.add_done_callback(self._finished)
        # Shielded: a cancelled caller must not cancel the read the others are waiting for.
        await asyncio.shield(self._catching_up)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._catching_up is task:
            self._catching_up = None
        if not task.cancelled():
            task.exception()  # retrieved here, raised to the waiting callers by `shield`

    async def _read_feed(self) -> None:
        started = self._clock.now()
        for grant in await self._feed.revoked_since(self._since):
            self._remember(grant.grant_id, grant.remember_until)
        for grant_id in [g for g, until in self._remember_until.items() if until <= started]:
            del self._remember_until[grant_id]
        self._since = started - self._overlap
        self._synced_at = started

    def _remember(self, grant_id: str, remember_until: float) -> None:
        self._remember_until[grant_id] = max(
            remember_until, self._remember_until.get(grant_id, remember_until)
        )
