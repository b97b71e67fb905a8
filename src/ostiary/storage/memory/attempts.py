"""In-memory failed-login counters (single process; asyncio makes each call atomic)."""

from __future__ import annotations

from ostiary.storage.interfaces.attempts import AttemptState


class MemoryAttemptStore:
    def __init__(self) -> None:
        self._states: dict[str, AttemptState] = {}

    async def get(self, key: str) -> AttemptState | None:
        return self._states.get(key)

    async def record_failure(self, key: str, *, now: float) -> AttemptState:
        previous = self._states.get(key)
        state = AttemptState((previous.failures if previous else 0) + 1, now)
        self._states[key] = state
        return state

    async def reset(self, key: str) -> None:
        self._states.pop(key, None)
