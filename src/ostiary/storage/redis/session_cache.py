"""A worker-local cache of Redis session records, invalidated by push over Redis pub/sub.

Consistency contract (docs/architecture.md, "Session cache"):

- an entry is served for at most `ttl` seconds (≤ 1 s) after it was read from Redis, and only while
  this worker's invalidation subscription is confirmed and alive; while it is down (not yet
  subscribed, disconnected, or silent past its heartbeat) every lookup reads Redis and nothing is
  cached, so a lost invalidation can never be served;
- every delete or touch of a session, by any worker, publishes the digests on one channel after the
  Redis write; each worker evicts them when the message arrives (push, typically well under 1 ms),
  and the worker that made the change evicts them at once, before its call returns;
- a read that was in flight when an invalidation happened never stores what it read (an epoch
  counter moves on every invalidation, and a fill carries the epoch seen before its read);
- a cached record is the stored record: idle and absolute expiry are rechecked by the caller
  (`SessionManager.load`) on every hit, against the clock.

Redis pub/sub is at-most-once: a message is lost only with the subscriber's connection, which takes
the cache out of service until it is back (and then starts empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from ostiary.core.clock import Clock
from ostiary.storage.interfaces.sessions import SessionRecord

log = logging.getLogger("ostiary.sessions")

SESSION_CACHE_SIZE = 10_000
FLUSH_ALL = "*"


class SessionCache:
    """Bounded digest → record map with a TTL and an invalidation epoch. No I/O; one event loop."""

    def __init__(self, clock: Clock, *, ttl: float, size: int = SESSION_CACHE_SIZE) -> None:
        self._clock = clock
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[SessionRecord, float]] = {}
        self._epoch = 0
        self._live = False  # True only while the invalidation subscription is confirmed

    @property
    def epoch(self) -> int:
        """Take this before reading the store; pass it to `fill` after."""
        return self._epoch

    @property
    def live(self) -> bool:
        return self._live

    def get(self, digest: str) -> SessionRecord | None:
        if not self._live:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        age = self._clock.now() - entry[1]
        if 0 <= age < self.ttl:  # a clock stepped backwards does not extend an entry
            return entry[0]
        del self._entries[digest]
        return None

    def fill(self, record: SessionRecord, epoch: int) -> None:
        """Keep `record` unless anything was invalidated since `epoch` was taken."""
        if not self._live or epoch != self._epoch or self.size <= 0 or self.ttl <= 0:
            return
        self._entries.pop(record.digest, None)
        self._entries[record.digest] = (record, self._clock.now())
        while len(self._entries) > self.size:  # oldest fill first: entries live ≤ ttl anyway
            del self._entries[next(iter(self._entries))]

    def invalidate(self, digests: Iterable[str]) -> None:
        self._epoch += 1
        for digest in digests:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def set_live(self, live: bool) -> None:
        """Subscription up (start empty: messages may have been missed) or down (serve nothing)."""
        self.clear()
        self._live = live

    def __len__(self) -> int:
        return len(self._entries)


def parse_invalidation(data: Any) -> list[str] | None:
    """The digests of one message, or None for "flush everything"."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    if text == FLUSH_ALL:
        return None
    return text.split()


class InvalidationListener:
    """Keeps one pub/sub subscription per worker and applies its messages to a `SessionCache`.

    Liveness: when nothing arrives for `heartbeat` seconds it PINGs on the subscription; silence for
    three heartbeats counts as a dead connection. Started lazily from the first lookup (in the loop
    that serves requests); reconnects with backoff; `close` stops it.
    """

    def __init__(self, client: Redis, channel: str, cache: SessionCache, *, heartbeat: float = 1.0) -> None:
        self._client = client
        self.channel = channel
        self._cache = cache
        self._heartbeat = heartbeat
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.subscriptions = 0  # how many times the subscription was confirmed (tests, logs)

    def ensure_started(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="session-invalidations")

    async def close(self) -> None:
        self._closed = True
        self._cache.set_live(False)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closed:
            before = self.subscriptions
            try:
                await self._subscribed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: serve from Redis until subscribed again
                log.warning("session invalidation subscription down (%s); sessions read from Redis", exc)
            backoff = 0.1 if self.subscriptions != before else min(backoff * 2, 2.0)
            await asyncio.sleep(backoff)

    async def _subscribed(self) -> None:
        loop = asyncio.get_running_loop()
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            heard = loop.time()
            while True:
                message = await pubsub.get_message(timeout=self._heartbeat)
                now = loop.time()
                if message is None:
                    if now - heard > 3 * self._heartbeat:
                        raise ConnectionError("no reply to PING on the invalidation subscription")
                    await pubsub.ping()
                    continue
                heard = now
                kind = message.get("type")
                if kind == "subscribe":
                    self.subscriptions += 1
                    self._cache.set_live(True)
                elif kind == "message":
                    digests = parse_invalidation(message.get("data", b""))
                    if digests is None:
                        self._cache.clear()
                    else:
                        self._cache.invalidate(digests)
        finally:
            self._cache.set_live(False)
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
