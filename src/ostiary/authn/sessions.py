"""Server-side browser sessions (SEC-08..13): opaque ids, digests at rest, idle and absolute expiry.

A session id is 256 random bits shown only to the browser; the store keeps its SHA-256 digest. Login
always makes a new id (no pre-login id is ever promoted), a password change rotates it, logout
deletes it on the server. The CSRF token is a per-session secret compared in constant time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.secrets import constant_time_equals, random_token, sha256_hex
from ostiary.storage.interfaces.sessions import SessionRecord, SessionStore, UserSessionIndex

MAX_SESSION_ID_LENGTH = 128


@dataclass(frozen=True)
class SessionConfig:
    idle_seconds: int = 3600
    absolute_seconds: int = 86400
    touch_interval_seconds: int = 60


@dataclass(frozen=True)
class NewSession:
    session_id: str  # the secret for the cookie; never stored
    record: SessionRecord

    @property
    def csrf_token(self) -> str:
        return self.record.csrf_secret


class SessionManager:
    def __init__(
        self, store: SessionStore, index: UserSessionIndex, clock: Clock, config: SessionConfig
    ) -> None:
        self._store = store
        self._index = index
        self._clock = clock
        self.config = config

    @staticmethod
    def digest(session_id: str) -> str:
        return sha256_hex(session_id)

    async def create(self, user_id: str, meta: RequestMeta, *, amr: tuple[str, ...] = ("pwd",)) -> NewSession:
        now = self._clock.now()
        session_id = random_token(32)
        record = SessionRecord(
            digest=self.digest(session_id),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.config.absolute_seconds,
            auth_time=now,
            csrf_secret=random_token(32),
            ip=meta.ip,
            user_agent=meta.user_agent[:256],
            amr=amr,
        )
        await self._store.create(record, idle_seconds=self.config.idle_seconds)
        return NewSession(session_id, record)

    async def load(self, session_id: str | None, meta: RequestMeta | None = None) -> SessionRecord | None:
        """The live session for a cookie value, or None. Expired sessions are deleted on sight."""
        if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
            return None
        digest = self.digest(session_id)
        record = await self._store.get(digest)
        if record is None:
            return None
        now = self._clock.now()
        if now >= record.expires_at or now >= record.last_seen_at + self.config.idle_seconds:
            await self._store.delete(digest)
            return None
        # Sliding expiry without a write per request: touch at most once per interval.
        if now - record.last_seen_at >= self.config.touch_interval_seconds:
            ip = meta.ip if meta else record.ip
            await self._store.touch(digest, last_seen_at=now, idle_seconds=self.config.idle_seconds, ip=ip)
            record = replace(record, last_seen_at=now, ip=ip)
        return record

    async def rotate(self, record: SessionRecord, meta: RequestMeta) -> NewSession:
        """Replace a session with a fresh id (password change, step-up), keeping its auth facts."""
        fresh = await self.create(record.user_id, meta, amr=record.amr)
        await self._store.delete(record.digest)
        return fresh

    async def revoke(self, digest: str) -> bool:
        return await self._store.delete(digest)

    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        return await self._index.delete_for_user(user_id, keep=keep)

    async def list_user(self, user_id: str) -> list[SessionRecord]:
        now = self._clock.now()
        return [
            r
            for r in await self._index.list_for_user(user_id)
            if now < r.expires_at and now < r.last_seen_at + self.config.idle_seconds
        ]

    @staticmethod
    def csrf_valid(record: SessionRecord, presented: str | None) -> bool:
        return bool(presented) and constant_time_equals(record.csrf_secret, presented or "")
