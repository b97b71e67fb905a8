"""Seeing other workers' key rotations: a process-local reload of the key ring, at most every N s.

Each worker holds its key ring in memory (keys are parsed once, never per request). Another worker
or the CLI may add, promote or retire keys in the shared store, so each process re-reads the store
(`KeyManager.promote_due`, which also activates `next` keys whose publish delay has passed and
deletes retired keys whose grace has ended) at most once every `interval` seconds. The reload is
started from the request path by `poke()` — a clock comparison — and runs as a background task, so
no request ever waits for it; a failed reload keeps the previous ring and is retried next interval.

Publish-then-sign holds across workers as long as `publish_delay` > `interval` + the JWKS
`max-age` (300 s): every worker and every relying party has the new public key before any worker
signs with it (SEC-23, SEC-79); `compose` logs a warning at start when that ordering is broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ostiary.core.clock import Clock
from ostiary.tokens.key_manager import KeyManager

log = logging.getLogger("ostiary.keys")


class KeyRingRefresher:
    def __init__(self, manager: KeyManager, clock: Clock, interval: float) -> None:
        self._manager = manager
        self._clock = clock
        self._interval = interval
        self._next_at = clock.now() + interval
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Start a reload in the background if the interval has passed and none is running."""
        if self._task is not None or self._clock.now() < self._next_at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._next_at = self._clock.now() + self._interval
        self._task = loop.create_task(self._reload())

    async def reload(self) -> None:
        """Reload now and wait for it (startup, CLI, tests)."""
        await self._manager.promote_due()
        self._next_at = self._clock.now() + self._interval

    async def _reload(self) -> None:
        try:
            await self._manager.promote_due()
        except Exception:
            log.warning("signing-key reload failed; keeping the current key ring", exc_info=True)
        finally:
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
