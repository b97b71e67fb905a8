"""Server-side browser sessions. Stores see only the SHA-256 digest of a session id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SessionRecord:
    digest: str
    user_id: str
    created_at: float
    last_seen_at: float
    expires_at: float  # absolute expiry; the idle expiry is last_seen_at + idle timeout
    auth_time: float
    csrf_secret: str
    ip: str = ""
    user_agent: str = ""
    amr: tuple[str, ...] = field(default_factory=tuple)


class SessionStore(Protocol):
    async def create(self, record: SessionRecord, *, idle_seconds: int) -> None: ...

    async def get(self, digest: str) -> SessionRecord | None: ...

    async def touch(self, digest: str, *, last_seen_at: float, idle_seconds: int, ip: str) -> None: ...

    async def delete(self, digest: str) -> bool: ...


class UserSessionIndex(Protocol):
    async def list_for_user(self, user_id: str) -> list[SessionRecord]: ...

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Delete every session of the user except `keep` (a digest); return how many went."""
        ...
