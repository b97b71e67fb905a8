"""Per-account throttling (SEC-60, NIST SP 800-63B §3.2.2): a progressive delay, time-based unlock.

The key is the submitted login, case-folded, whether or not an account exists, so the lock state
reveals nothing about existence. After `free_attempts` failures each further attempt must wait
2^(n - free) seconds since the last failure, capped at `max_delay`; past `hard_limit` failures the
wait is always `max_delay`. A success resets the counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ostiary.core.clock import Clock
from ostiary.core.errors import RateLimited
from ostiary.storage.interfaces.attempts import AttemptState, AttemptStore


@dataclass(frozen=True)
class LockoutConfig:
    free_attempts: int = 5
    max_delay_seconds: int = 900
    hard_limit: int = 100


class Lockout:
    def __init__(self, store: AttemptStore, clock: Clock, config: LockoutConfig) -> None:
        self._store = store
        self._clock = clock
        self._config = config

    @staticmethod
    def key_for(login: str) -> str:
        return "login:" + login.strip().casefold()[:300]

    def delay_after(self, failures: int) -> int:
        cfg = self._config
        if failures < cfg.free_attempts:
            return 0
        if failures >= cfg.hard_limit:
            return cfg.max_delay_seconds
        return min(int(2 ** (failures - cfg.free_attempts)), cfg.max_delay_seconds)

    def _remaining(self, state: AttemptState) -> float:
        return state.last_failure_at + self.delay_after(state.failures) - self._clock.now()

    async def check(self, key: str) -> AttemptState | None:
        """Raise RateLimited while the account must wait; cheap (one key lookup). Returns the state."""
        state = await self._store.get(key)
        if state is None:
            return None
        remaining = self._remaining(state)
        if remaining > 0:
            raise RateLimited(retry_after=math.ceil(remaining))
        return state

    async def failed(self, key: str) -> AttemptState:
        return await self._store.record_failure(key, now=self._clock.now())

    async def succeeded(self, key: str) -> None:
        await self._store.reset(key)

    async def state(self, key: str) -> AttemptState | None:
        return await self._store.get(key)
