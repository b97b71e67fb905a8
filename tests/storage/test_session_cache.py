"""SessionCache (storage/redis/session_cache.py): TTL, bound, epoch-guarded fills, liveness. No I/O."""

from __future__ import annotations

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.redis.session_cache import SessionCache, parse_invalidation


def record(digest: str = "d1", user_id: str = "u1") -> SessionRecord:
    return SessionRecord(digest, user_id, 1.0, 1.0, 10_000.0, 1.0, "csrf")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def live_cache(clock: FrozenClock, *, ttl: float = 1.0, size: int = 100) -> SessionCache:
    cache = SessionCache(clock, ttl=ttl, size=size)
    cache.set_live(True)
    return cache


def test_a_filled_record_is_served_until_the_ttl_and_not_after(clock: FrozenClock) -> None:
    cache = live_cache(clock)
    cache.fill(record(), cache.epoch)
    clock.advance(0.999)
    assert cache.get("d1") == record()
    clock.advance(0.001)
    assert cache.get("d1") is None
    assert len(cache) == 0  # an expired entry is dropped on sight


def test_a_clock_stepped_backwards_does_not_extend_an_entry(clock: FrozenClock) -> None:
    cache = live_cache(clock)
    cache.fill(record(), cache.epoch)
    clock.advance(-5)
    assert cache.get("d1") is None


def test_nothing_is_served_or_kept_while_the_subscription_is_down(clock: FrozenClock) -> None:
    cache = SessionCache(clock, ttl=1.0)
    cache.fill(record(), cache.epoch)  # not live yet: ignored
    assert len(cache) == 0
    cache.set_live(True)
    cache.fill(record(), cache.epoch)
    assert cache.get("d1") is not None
    cache.set_live(False)  # down: everything goes, and nothing is served
    assert cache.get("d1") is None
    assert len(cache) == 0
    cache.set_live(True)  # back: starts empty (messages sent meanwhile were lost)
    assert cache.get("d1") is None


def test_an_invalidation_during_a_read_voids_that_reads_fill(clock: FrozenClock) -> None:
    cache = live_cache(clock)
    epoch = cache.epoch  # a miss takes the epoch, then reads the store ...
    cache.invalidate(["d1"])  # ... while a logout of that session is applied
    cache.fill(record(), epoch)  # the read returns the pre-logout record
    assert cache.get("d1") is None
    cache.fill(record(), cache.epoch)  # a read that started afterwards may fill
    assert cache.get("d1") is not None


def test_going_live_during_a_read_voids_its_fill(clock: FrozenClock) -> None:
    cache = SessionCache(clock, ttl=1.0)
    epoch = cache.epoch
    cache.set_live(True)
    cache.fill(record(), epoch)
    assert cache.get("d1") is None


def test_invalidate_and_clear_evict(clock: FrozenClock) -> None:
    cache = live_cache(clock)
    for digest in ("a", "b", "c"):
        cache.fill(record(digest), cache.epoch)
    cache.invalidate(["a", "zz"])
    assert [cache.get(d) is not None for d in ("a", "b", "c")] == [False, True, True]
    cache.clear()
    assert len(cache) == 0


def test_the_cache_is_bounded_and_drops_the_oldest_fill(clock: FrozenClock) -> None:
    cache = live_cache(clock, size=3)
    for digest in ("a", "b", "c", "d"):
        cache.fill(record(digest), cache.epoch)
    assert len(cache) == 3
    assert cache.get("a") is None
    assert cache.get("d") is not None


def test_size_or_ttl_zero_keeps_nothing(clock: FrozenClock) -> None:
    for cache in (live_cache(clock, size=0), live_cache(clock, ttl=0)):
        cache.fill(record(), cache.epoch)
        assert cache.get("d1") is None


def test_invalidation_messages_parse() -> None:
    assert parse_invalidation(b"a b  c") == ["a", "b", "c"]
    assert parse_invalidation("x") == ["x"]
    assert parse_invalidation(b"*") is None
