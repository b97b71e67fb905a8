"""Request-rate limits per IP and per IP+login (SEC-61..63) through the `limits` library.

Memory storage by default; Redis when configured so that limits hold across workers. If Redis
cannot be reached the limiter falls back to a conservative in-process limiter rather than allowing
unlimited attempts (SEC-78).
"""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from ostiary.core.errors import RateLimited

log = logging.getLogger("ostiary.ratelimit")


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._fallback = MovingWindowRateLimiter(MemoryStorage())
        self._primary: MovingWindowRateLimiter | None = None
        if redis_url:
            storage: Storage = storage_from_string(  # type: ignore[assignment]
                "async+" + redis_url, implementation="redispy"
            )
            self._primary = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, *identifiers: str) -> None:
        """Count one attempt; raise RateLimited(retry_after) when over `limit` (e.g. "10/minute")."""
        if not self.enabled:
            return
        item = parse(limit)
        limiter = self._primary or self._fallback
        try:
            allowed = await limiter.hit(item, *identifiers)
            if allowed:
                return
            stats = await limiter.get_window_stats(item, *identifiers)
        except Exception:
            if limiter is self._fallback:
                raise
            log.warning("rate-limit store unreachable; using the in-process limiter")
            allowed = await self._fallback.hit(item, *identifiers)
            if allowed:
                return
            stats = await self._fallback.get_window_stats(item, *identifiers)
        # limits reports the reset as an epoch timestamp; it is not our clock, only a hint.
        raise RateLimited(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    async def clear(self, limit: str, *identifiers: str) -> None:
        limiter = self._primary or self._fallback
        await limiter.clear(parse(limit), *identifiers)
