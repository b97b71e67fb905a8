"""Redis session store: one hash per session, TTL-native idle expiry, a set per user as index.

Every delete and touch publishes the session digests on `<prefix>session-invalidations` (in the same
transaction or script as the write), so the worker-local `SessionCache` of every worker can drop them
(storage/redis/session_cache.py has the consistency contract). Without a cache, `get` reads Redis.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ostiary.core.errors import StoreUnavailable
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.redis.session_cache import InvalidationListener, SessionCache

_FIELDS = (
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "auth_time",
    "csrf_secret",
    "ip",
    "user_agent",
    "amr",
)

_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now = tonumber(ARGV[1])
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at'))
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1], 'ip', ARGV[3])
local ttl = math.ceil(math.min(now + tonumber(ARGV[2]), expires) - now)
if ttl < 1 then ttl = 1 end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""


class RedisSessionStore:
    """Implements SessionStore and UserSessionIndex. Redis is authoritative for these sessions."""

    def __init__(self, client: Redis, *, prefix: str = "ostiary:", cache: SessionCache | None = None) -> None:
        """`cache`: serve recent reads from this worker's memory (push-invalidated; see module doc)."""
        self._r = client
        self._prefix = prefix
        self._touch = client.register_script(_TOUCH)
        self.channel = f"{prefix}session-invalidations"
        self.cache = cache
        self.listener = None if cache is None else InvalidationListener(client, self.channel, cache)

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.close()

    def _forget(self, digests: list[str]) -> None:
        if self.cache is not None:
            self.cache.invalidate(digests)

    def _key(self, digest: str) -> str:
        return f"{self._prefix}session:{digest}"

    def _index(self, user_id: str) -> str:
        return f"{self._prefix}user-sessions:{user_id}"

    @staticmethod
    def _ttl(record_expires_at: float, last_seen_at: float, idle_seconds: int) -> int:
        return max(1, math.ceil(min(last_seen_at + idle_seconds, record_expires_at) - last_seen_at))

    async def create(self, record: SessionRecord, *, idle_seconds: int) -> None:
        mapping: dict[Any, Any] = {
            "user_id": record.user_id,
            "created_at": repr(record.created_at),
            "last_seen_at": repr(record.last_seen_at),
            "expires_at": repr(record.expires_at),
            "auth_time": repr(record.auth_time),
            "csrf_secret": record.csrf_secret,
            "ip": record.ip,
            "user_agent": record.user_agent[:256],
            "amr": " ".join(record.amr),
        }
        ttl = self._ttl(record.expires_at, record.last_seen_at, idle_seconds)
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(record.digest), mapping=mapping)
                pipe.expire(self._key(record.digest), ttl)
                pipe.sadd(self._index(record.user_id), record.digest)
                await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc

    async def get(self, digest: str) -> SessionRecord | None:
        cache = self.cache
        if cache is None:
            return await self._read(digest)
        if self.listener is not None:
            self.listener.ensure_started()
        record = cache.get(digest)
        if record is None:
            epoch = cache.epoch  # before the read: an invalidation during it voids the fill
            record = await self._read(digest)
            if record is not None:
                cache.fill(record, epoch)
        return record

    async def _read(self, digest: str) -> SessionRecord | None:
        try:
            values = await self._r.hmget(self._key(digest), list(_FIELDS))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc
        if values[0] is None:
            return None
        v = [x.decode() if isinstance(x, bytes) else (x or "") for x in values]
        return SessionRecord(
            digest=digest,
            user_id=v[0],
            created_at=float(v[1]),
            last_seen_at=float(v[2]),
            expires_at=float(v[3]),
            auth_time=float(v[4]),
            csrf_secret=v[5],
            ip=v[6],
            user_agent=v[7],
            amr=tuple(a for a in v[8].split(" ") if a),
        )

    async def touch(self, digest: str, *, last_seen_at: float, idle_seconds: int, ip: str) -> None:
        # One atomic script: a session deleted concurrently is never resurrected by a late touch.
        try:
            await self._touch(
                keys=[self._key(digest)], args=[repr(last_seen_at), idle_seconds, ip, self.channel, digest]
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc
        finally:
            self._forget([digest])

    async def delete(self, digest: str) -> bool:
        key = self._key(digest)
        try:
            user_id = await self._r.hget(key, "user_id")
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if user_id is not None:
                    pipe.srem(
                        self._index(user_id.decode() if isinstance(user_id, bytes) else user_id), digest
                    )
                pipe.publish(self.channel, digest)
                removed = int((await pipe.execute())[0])
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc
        finally:
            self._forget([digest])  # this worker: at once, even if Redis failed half-way
        return removed > 0

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        try:
            digests = await self._r.smembers(self._index(user_id))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc
        records = []
        for raw in digests:
            digest = raw.decode() if isinstance(raw, bytes) else raw
            record = await self._read(digest)  # listings read Redis, never the cache
            if record is None:
                await self._r.srem(self._index(user_id), digest)  # expired: prune the index
            else:
                records.append(record)
        return sorted(records, key=lambda r: r.created_at)

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        doomed: list[str] = []
        try:
            digests = [
                d.decode() if isinstance(d, bytes) else d
                for d in await self._r.smembers(self._index(user_id))
            ]
            doomed = [d for d in digests if d != keep]
            if not doomed:
                return 0
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(*[self._key(d) for d in doomed])
                pipe.srem(self._index(user_id), *doomed)
                pipe.publish(self.channel, " ".join(doomed))
                removed = int((await pipe.execute())[0])
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable() from exc
        finally:
            self._forget(doomed)
        return removed
