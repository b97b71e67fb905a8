"""Failed-login counters for account lockout; increments are atomic (SEC-76)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AttemptState:
    failures: int
    last_failure_at: float


class AttemptStore(Protocol):
    async def get(self, key: str) -> AttemptState | None: ...

    async def record_failure(self, key: str, *, now: float) -> AttemptState:
        """Atomically add one failure and return the new state."""
        ...

    async def reset(self, key: str) -> None: ...
