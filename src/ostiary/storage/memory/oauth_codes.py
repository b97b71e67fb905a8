"""In-memory authorization-code store for unit tests and single-process embedding."""

from __future__ import annotations

from ostiary.core.clock import Clock, SystemClock
from ostiary.storage.interfaces.oauth_codes import REDEEMED_MEMORY_SECONDS, AuthorizationCodeRecord


class MemoryAuthorizationCodeStore:
    """Implements AuthorizationCodeStore.

    No method awaits, so `consume` cannot interleave with another coroutine: take-and-mark is one
    step on the event loop. Entries past their lifetime are purged lazily on `save`.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._live: dict[str, AuthorizationCodeRecord] = {}
        self._redeemed: dict[str, tuple[str, float]] = {}  # digest → (grant id, forget after)

    async def save(self, code_digest: str, record: AuthorizationCodeRecord) -> None:
        self._purge()
        if code_digest in self._live or code_digest in self._redeemed:
            raise ValueError("authorization code digest collision")
        self._live[code_digest] = record

    async def consume(self, code_digest: str) -> AuthorizationCodeRecord | None:
        record = self._live.pop(code_digest, None)
        if record is not None:
            self._redeemed[code_digest] = (record.grant_id, record.expires_at + REDEEMED_MEMORY_SECONDS)
        return record

    async def get_redeemed(self, code_digest: str) -> str | None:
        entry = self._redeemed.get(code_digest)
        return entry[0] if entry is not None else None

    def _purge(self) -> None:
        now = self._clock.now()
        for digest in [d for d, r in self._live.items() if r.expires_at + REDEEMED_MEMORY_SECONDS < now]:
            del self._live[digest]
        for digest in [d for d, (_, until) in self._redeemed.items() if until < now]:
            del self._redeemed[digest]
