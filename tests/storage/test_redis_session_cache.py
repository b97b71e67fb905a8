"""RedisSessionStore with its worker-local cache, on a real Redis: two stores with their own clients
stand for two workers. The clock is frozen, so the 1 s TTL backstop never elapses: whatever a test sees
change in the other worker came through the push invalidation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from helpers import free_port
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.redis.session_cache import InvalidationListener, SessionCache
from ostiary.storage.redis.sessions import RedisSessionStore

IDLE = 3600
PUSH_BOUND = 0.5  # well under the 1 s TTL (which the frozen clock stops anyway)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = PUSH_BOUND) -> float:
    """Seconds until `check()` held; fails after `within`."""
    start = time.perf_counter()
    while not await check():
        assert time.perf_counter() - start < within, "not seen within the bound"
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


def record(clock: FrozenClock, digest: str, user_id: str = "u1") -> SessionRecord:
    now = clock.now()
    return SessionRecord(digest, user_id, now, now, now + 86400, now, f"csrf-{digest}", "10.0.0.1", "ua")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def workers(redis_url: str, clock: FrozenClock) -> AsyncIterator[list[RedisSessionStore]]:
    """Two workers' stores (own clients, own caches), both subscribed."""
    stores = [
        RedisSessionStore(Redis.from_url(redis_url), cache=SessionCache(clock, ttl=1.0)) for _ in range(2)
    ]
    for store in stores:
        assert await store.get("nothing") is None  # the first lookup starts the listener

        async def live(store: RedisSessionStore = store) -> bool:
            return store.cache is not None and store.cache.live

        await eventually(live, within=5)
    yield stores
    for store in stores:
        await store.close()
        await store._r.aclose()


async def change_behind_the_back(raw: Redis, digest: str, ip: str) -> None:
    await raw.hset(f"ostiary:session:{digest}", "ip", ip)


async def test_a_hit_is_served_from_memory(
    workers: list[RedisSessionStore], raw: Redis, clock: FrozenClock
) -> None:
    a, _ = workers
    await a.create(record(clock, "s1"), idle_seconds=IDLE)
    assert (await a.get("s1")) == record(clock, "s1")
    await change_behind_the_back(raw, "s1", "10.9.9.9")  # no store call: no invalidation
    got = await a.get("s1")
    assert got is not None and got.ip == "10.0.0.1"  # the cached copy (this is what makes it fast)
    clock.advance(1.0)  # the TTL backstop
    got = await a.get("s1")
    assert got is not None and got.ip == "10.9.9.9"


@pytest.mark.sec("SEC-10")
async def test_a_delete_is_seen_by_the_same_worker_at_once(redis_url: str, clock: FrozenClock) -> None:
    store = RedisSessionStore(Redis.from_url(redis_url), cache=SessionCache(clock, ttl=1.0))
    assert store.listener is not None and store.cache is not None
    store.listener.channel = "elsewhere"  # a live subscription that never echoes this store's writes
    try:
        await store.create(record(clock, "s1"), idle_seconds=IDLE)

        async def cached() -> bool:
            return await store.get("s1") is not None and len(store.cache or ()) == 1

        await eventually(cached, within=5)
        assert await store.delete("s1")
        assert await store.get("s1") is None  # evicted by the delete itself, not by a message
        await store.create(record(clock, "s2"), idle_seconds=IDLE)
        await store.create(record(clock, "s3"), idle_seconds=IDLE)
        assert await store.get("s2") is not None and await store.get("s3") is not None
        assert await store.delete_for_user("u1") == 2
        assert await store.get("s2") is None and await store.get("s3") is None
    finally:
        await store.close()
        await store._r.aclose()


@pytest.mark.sec("SEC-10")
async def test_a_delete_in_one_worker_is_pushed_to_the_other(
    workers: list[RedisSessionStore], raw: Redis, clock: FrozenClock
) -> None:
    a, b = workers
    await a.create(record(clock, "s1"), idle_seconds=IDLE)
    assert await b.get("s1") is not None
    await change_behind_the_back(raw, "s1", "10.9.9.9")
    cached = await b.get("s1")
    assert cached is not None and cached.ip == "10.0.0.1"  # b answers from its cache
    assert await a.delete("s1")

    async def gone() -> bool:
        return await b.get("s1") is None

    await eventually(gone)


@pytest.mark.sec("SEC-12")
async def test_ending_all_of_a_users_sessions_is_pushed_to_the_other_worker(
    workers: list[RedisSessionStore], clock: FrozenClock
) -> None:
    a, b = workers
    for digest in ("s1", "s2", "s3"):
        await a.create(record(clock, digest), idle_seconds=IDLE)
        assert await b.get(digest) is not None
    assert await a.delete_for_user("u1", keep="s2") == 2

    async def only_s2_left() -> bool:
        return [await b.get(d) is not None for d in ("s1", "s2", "s3")] == [False, True, False]

    await eventually(only_s2_left)


async def test_a_touch_in_one_worker_is_pushed_to_the_other(
    workers: list[RedisSessionStore], clock: FrozenClock
) -> None:
    a, b = workers
    await a.create(record(clock, "s1"), idle_seconds=IDLE)
    assert await b.get("s1") is not None
    await a.touch("s1", last_seen_at=clock.now() + 120, idle_seconds=IDLE, ip="10.0.0.2")

    async def fresh() -> bool:
        got = await b.get("s1")
        return got is not None and got.last_seen_at == clock.now() + 120 and got.ip == "10.0.0.2"

    await eventually(fresh)


@pytest.mark.sec("SEC-10")
async def test_a_read_in_flight_during_a_logout_never_refills_the_cache(
    workers: list[RedisSessionStore], clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = workers
    await a.create(record(clock, "s1"), idle_seconds=IDLE)
    read_done, release = asyncio.Event(), asyncio.Event()
    real_read = b._read

    async def slow_read(digest: str) -> SessionRecord | None:
        found = await real_read(digest)
        read_done.set()
        await release.wait()  # the record is read; the logout happens before it is kept
        return found

    monkeypatch.setattr(b, "_read", slow_read)
    in_flight = asyncio.ensure_future(b.get("s1"))
    await read_done.wait()
    assert b.cache is not None
    epoch = b.cache.epoch
    assert await a.delete("s1")

    async def message_arrived() -> bool:
        return b.cache is not None and b.cache.epoch != epoch

    await eventually(message_arrived)
    release.set()
    assert await in_flight is not None  # that request overlapped the logout: either answer is fine
    monkeypatch.setattr(b, "_read", real_read)
    assert await b.get("s1") is None  # but nothing stale was kept


@pytest.mark.sec("SEC-10")
async def test_concurrent_readers_in_the_other_worker_all_see_the_logout(
    workers: list[RedisSessionStore], clock: FrozenClock
) -> None:
    a, b = workers
    await a.create(record(clock, "s1"), idle_seconds=IDLE)
    assert await b.get("s1") is not None
    stop = asyncio.Event()
    answers: list[tuple[float, bool]] = []

    async def reader() -> None:
        while not stop.is_set():
            answers.append((time.perf_counter(), await b.get("s1") is not None))
            await asyncio.sleep(0)

    readers = [asyncio.ensure_future(reader()) for _ in range(16)]
    await asyncio.sleep(0.05)
    assert await a.delete("s1")
    deleted_at = time.perf_counter()

    async def refused() -> bool:
        return await b.get("s1") is None

    await eventually(refused)
    seen_at = time.perf_counter()
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*readers)
    assert any(ok for _, ok in answers)  # the readers did run against a live, cached session
    assert not [t for t, ok in answers if ok and t > seen_at]  # once refused, refused for every reader
    assert seen_at - deleted_at < PUSH_BOUND


async def test_without_a_working_subscription_nothing_is_served_from_memory(
    redis_url: str, raw: Redis, clock: FrozenClock
) -> None:
    store = RedisSessionStore(Redis.from_url(redis_url), cache=SessionCache(clock, ttl=1.0))
    assert store.listener is not None and store.cache is not None
    # The store's own commands work, its subscriptions cannot connect.
    store.listener._client = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    try:
        await store.create(record(clock, "s1"), idle_seconds=IDLE)
        for ip in ("10.1.1.1", "10.2.2.2", "10.3.3.3"):
            await asyncio.sleep(0.15)  # the listener keeps failing and retrying meanwhile
            await change_behind_the_back(raw, "s1", ip)
            got = await store.get("s1")
            assert got is not None and got.ip == ip  # read from Redis every time
        assert not store.cache.live and len(store.cache) == 0
        assert store.listener.subscriptions == 0
    finally:
        await store.close()
        await store.listener._client.aclose()
        await store._r.aclose()


async def test_a_lost_subscription_empties_the_cache_and_comes_back(
    workers: list[RedisSessionStore], raw: Redis, clock: FrozenClock
) -> None:
    _, b = workers
    assert b.cache is not None and b.listener is not None
    await b.create(record(clock, "s1"), idle_seconds=IDLE)
    assert await b.get("s1") is not None and len(b.cache) == 1
    await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # invalidations may be lost now

    async def resubscribed() -> bool:
        return (
            b.listener is not None and b.listener.subscriptions == 2 and b.cache is not None and b.cache.live
        )

    await eventually(resubscribed, within=5)
    assert len(b.cache) == 0  # nothing read before the gap is served after it
    await change_behind_the_back(raw, "s1", "10.9.9.9")
    got = await b.get("s1")
    assert got is not None and got.ip == "10.9.9.9"


class SilenceableProxy:
    """A loopback TCP proxy to Redis that can go silent: connections stay open, nothing is passed on
    in either direction (a peer that vanished without a FIN or RST: a dead NAT entry, a pulled cable)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.silent = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if not self.silent:
                        sink.write(data)
                        await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.mark.sec("SEC-10")
async def test_a_subscription_gone_silent_stops_the_cache_within_three_heartbeats(
    redis_url: str, clock: FrozenClock
) -> None:
    """No error ever arrives on a silently dead connection: the listener's PINGs go unanswered, and
    after three heartbeats it must stop serving from memory (and reconnect once the path is back)."""
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = SilenceableProxy(redis_port)
    await proxy.start()
    heartbeat = 0.1
    cache = SessionCache(clock, ttl=1.0)
    client = Redis(host="127.0.0.1", port=proxy.port, socket_connect_timeout=0.5)
    listener = InvalidationListener(client, "ostiary:test-invalidations", cache, heartbeat=heartbeat)
    try:
        listener.ensure_started()
        await eventually(lambda: _true(cache.live), within=5)
        proxy.silent = True
        silenced = time.perf_counter()
        await eventually(lambda: _true(not cache.live), within=3 * heartbeat + 1.0)
        assert time.perf_counter() - silenced >= 1.5 * heartbeat  # one missed reply is not a dead link
        proxy.silent = False  # the path is back: a new connection subscribes again
        await eventually(lambda: _true(cache.live and listener.subscriptions >= 2), within=5)
    finally:
        await listener.close()
        await client.aclose()
        await proxy.stop()


async def _true(value: bool) -> bool:
    return value
