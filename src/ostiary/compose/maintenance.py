"""Periodic purge of records that outlived their use: RFC 6749 §4.1.2 codes, RFC 8628 device codes,
RFC 7009 revoked-grant marks, opaque access tokens and ended refresh-token families.

Redis evicts its records by itself (TTL); SQL rows stay until deleted, so `Maintenance` calls each
SQL store's `purge(before=now)` every `interval` seconds. The stores decide what "past" means from
their own timestamps (a code's redemption is remembered for replay detection until `forget_after`,
a revoked grant until `remember_until`), so purging at `now` never forgets what a check still needs.

Every worker runs its own loop: the purges are idempotent deletes, so two workers purging at once
cost a little work, never correctness. The first run waits a random part of one interval, so that
workers started together do not purge together. A failing or slow store is logged and skipped
(each purge is bounded by `timeout`); the loop itself only ends when `close` cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ostiary.compose.services import Services
from ostiary.core.clock import Clock
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore

log = logging.getLogger("ostiary.maintenance")

PURGE_TIMEOUT = 60.0  # seconds one store's purge may take before it is abandoned until next time
_JITTER = secrets.SystemRandom()


@runtime_checkable
class Purgeable(Protocol):
    async def purge(self, *, before: float) -> int:
        """Delete what ended before `before`; returns how many records were deleted."""
        ...


@dataclass(frozen=True)
class PurgeTarget:
    name: str  # for the log
    store: Purgeable


class Maintenance:
    def __init__(
        self,
        targets: Sequence[PurgeTarget],
        clock: Clock,
        *,
        interval: float,
        timeout: float = PURGE_TIMEOUT,
    ) -> None:
        if interval <= 0:
            raise ValueError("the purge interval must be positive")
        self.targets = tuple(targets)
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int | None]:
        """Purge every target once; returns what each deleted, None where it failed."""
        deleted: dict[str, int | None] = {}
        for target in self.targets:
            try:
                async with asyncio.timeout(self._timeout):
                    deleted[target.name] = await target.store.purge(before=self._clock.now())
            except Exception:
                # TimeoutError included: the next run tries again; the other stores still run.
                log.exception("purging %s failed", target.name)
                deleted[target.name] = None
        purged = {name: count for name, count in deleted.items() if count}
        if purged:
            log.info("purged expired records: %s", purged)
        return deleted

    def start(self) -> None:
        """Run in the background on the current event loop until `close`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="ostiary-purge")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # Waits for the task to end without taking on its cancellation: a cancellation of the
        # caller itself still propagates.
        await asyncio.wait([task])

    async def _loop(self) -> None:
        await asyncio.sleep(_JITTER.uniform(0, self._interval))
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)


def purge_targets(services: Services) -> list[PurgeTarget]:
    """The SQL stores with something to purge; Redis-backed kinds expire by themselves."""
    targets = [PurgeTarget("refresh_families", SqlRefreshTokenStore(services.db))]
    oauth = services.oauth
    if oauth is not None:
        for name, store in (
            ("authorization_codes", oauth.code_store),
            ("device_codes", oauth.devices),
            ("revoked_grants", oauth.revoked_grants),
            ("opaque_tokens", oauth.opaque_tokens),
        ):
            if isinstance(store, Purgeable):
                targets.append(PurgeTarget(name, store))
    return targets


def build_maintenance(services: Services) -> Maintenance | None:
    """None when `OSTIARY_PURGE_INTERVAL_SECONDS` is 0."""
    interval = services.settings.purge_interval_seconds
    if interval == 0:
        return None
    return Maintenance(purge_targets(services), services.clock, interval=float(interval))
