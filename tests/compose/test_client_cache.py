"""The client cache in front of the store: bounded staleness, immediate local invalidation."""

from __future__ import annotations

from ostiary.compose.client_cache import CachedClientStore
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.memory.oauth_clients import MemoryClientStore


class CountingStore(MemoryClientStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, client_id: str) -> Client | None:
        self.reads += 1
        return await super().get(client_id)


def client(disabled: bool = False) -> Client:
    return Client("svc", "Service", secret_digest="d" * 64, disabled=disabled)


async def test_reads_are_served_from_the_cache_within_the_ttl() -> None:
    store, clock = CountingStore(), FrozenClock()
    await store.add(client())
    cache = CachedClientStore(store, clock, ttl=1.0)
    for _ in range(50):
        assert (await cache.get("svc")) is not None
        assert (await cache.get("nobody")) is None
    assert store.reads == 2  # one per id, known or not


async def test_a_change_made_elsewhere_is_seen_after_the_ttl() -> None:
    store, clock = CountingStore(), FrozenClock()
    await store.add(client())
    cache = CachedClientStore(store, clock, ttl=1.0)
    assert not (await cache.get("svc")).disabled  # type: ignore[union-attr]
    await store.update(client(disabled=True))  # another process
    clock.advance(0.5)
    assert not (await cache.get("svc")).disabled  # type: ignore[union-attr]
    clock.advance(0.6)
    assert (await cache.get("svc")).disabled  # type: ignore[union-attr]


async def test_writes_through_the_cache_and_forget_are_seen_at_once() -> None:
    store, clock = CountingStore(), FrozenClock()
    cache = CachedClientStore(store, clock, ttl=60.0)
    assert await cache.get("svc") is None
    await cache.add(client())
    assert await cache.get("svc") is not None
    await cache.update(client(disabled=True))
    assert (await cache.get("svc")).disabled  # type: ignore[union-attr]
    await store.update(client())
    cache.forget("svc")
    assert not (await cache.get("svc")).disabled  # type: ignore[union-attr]


async def test_the_cache_is_bounded() -> None:
    store, clock = CountingStore(), FrozenClock()
    cache = CachedClientStore(store, clock, size=3)
    for i in range(10):
        await cache.get(f"c{i}")
    assert len(cache._entries) == 3
