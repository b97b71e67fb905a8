"""In-memory session store for unit tests and single-process embedding."""

from __future__ import annotations

from dataclasses import replace

from ostiary.storage.interfaces.sessions import SessionRecord


class MemorySessionStore:
    """Implements SessionStore and UserSessionIndex. Expiry is checked by the session manager."""

    def __init__(self) -> None:
        self._by_digest: dict[str, SessionRecord] = {}

    async def create(self, record: SessionRecord, *, idle_seconds: int) -> None:
        self._by_digest[record.digest] = record

    async def get(self, digest: str) -> SessionRecord | None:
        return self._by_digest.get(digest)

    async def touch(self, digest: str, *, last_seen_at: float, idle_seconds: int, ip: str) -> None:
        record = self._by_digest.get(digest)
        if record is not None:
            self._by_digest[digest] = replace(record, last_seen_at=last_seen_at, ip=ip)

    async def delete(self, digest: str) -> bool:
        return self._by_digest.pop(digest, None) is not None

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        found = [r for r in self._by_digest.values() if r.user_id == user_id]
        return sorted(found, key=lambda r: r.created_at)

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        doomed = [d for d, r in self._by_digest.items() if r.user_id == user_id and d != keep]
        for digest in doomed:
            del self._by_digest[digest]
        return len(doomed)
