"""Wrong second-factor codes per user (SEC-48; NIST SP 800-63B §3.2.2): lock the factor, not the IP.

The counter is keyed by the user id alone, under its own prefix (`mfa:`), apart from the password
lockout (`login:`): starting a new login, asking for a new challenge or changing IP does not reset
it; only a correct code does. After `max_failures` wrong codes the factor is locked for
`lock_seconds`, doubling with each further failure up to `max_lock_seconds`.

An attempt is counted *before* its code is checked, so a burst of parallel guesses cannot all slip
past the check: an attempt may proceed only if its increment kept the count within the budget, or —
once the budget is spent and the lock has run out — if it was the one increment after the lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ostiary.core.clock import Clock
from ostiary.core.errors import RateLimited
from ostiary.storage.interfaces.attempts import AttemptState, AttemptStore


class MfaLocked(RateLimited):
    code = "mfa_locked"

    def default_message(self) -> str:
        return "Too many wrong codes. Wait a while, then try again."


@dataclass(frozen=True)
class MfaThrottleConfig:
    max_failures: int = 5
    lock_seconds: int = 300
    max_lock_seconds: int = 86400


class MfaThrottle:
    def __init__(self, store: AttemptStore, clock: Clock, config: MfaThrottleConfig) -> None:
        self._store = store
        self._clock = clock
        self.config = config

    @staticmethod
    def key_for(user_id: str) -> str:
        return "mfa:" + user_id

    def lock_after(self, failures: int) -> int:
        cfg = self.config
        if failures < cfg.max_failures:
            return 0
        doublings = min(failures - cfg.max_failures, 32)
        return int(min(cfg.lock_seconds * (1 << doublings), cfg.max_lock_seconds))

    def _wait(self, state: AttemptState | None) -> float:
        if state is None:
            return 0.0
        return state.last_failure_at + self.lock_after(state.failures) - self._clock.now()

    async def reserve(self, user_id: str) -> AttemptState | None:
        """Count one attempt, or raise MfaLocked. Returns the count before this attempt."""
        key = self.key_for(user_id)
        before = await self._store.get(key)
        wait = self._wait(before)
        if wait > 0:
            raise MfaLocked(retry_after=math.ceil(wait))
        after = await self._store.record_failure(key, now=self._clock.now())
        prior = before.failures if before else 0
        if after.failures > self.config.max_failures and after.failures != prior + 1:
            # Another attempt took the one try this lock period allowed, between our read and write.
            raise MfaLocked(retry_after=max(1, self.lock_after(after.failures)))
        return before

    async def succeeded(self, user_id: str) -> None:
        await self._store.reset(self.key_for(user_id))

    async def state(self, user_id: str) -> AttemptState | None:
        return await self._store.get(self.key_for(user_id))
