"""The bounded hashing pool: refuses at once when full, keeps the event loop free while hashing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from ostiary.authn.hashers import Argon2idHasher, PasswordHashers, build_hashers
from ostiary.authn.hashing_pool import AsyncPasswordHashers, HashingPool
from ostiary.core.errors import Overloaded

PASSWORD = "correct horse battery staple"


@pytest.fixture
def pool() -> Iterator[HashingPool]:
    pool = HashingPool(workers=1, queue_limit=1)
    yield pool
    pool.shutdown()


async def test_a_full_pool_refuses_immediately(pool: HashingPool) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(tag: str) -> str:
        started.set()
        release.wait(timeout=10)
        return tag

    running = asyncio.ensure_future(pool.run(slow, "a"))
    queued = asyncio.ensure_future(pool.run(slow, "b"))
    await asyncio.sleep(0)
    assert pool.in_flight == 2

    with pytest.raises(Overloaded) as info:
        await pool.run(slow, "c")
    assert info.value.retry_after == 1
    assert info.value.status == 503
    assert pool.in_flight == 2

    release.set()
    assert list(await asyncio.gather(running, queued)) == ["a", "b"]
    assert started.is_set()
    assert pool.in_flight == 0
    assert await pool.run(str.upper, "again") == "AGAIN"


async def test_a_cancelled_caller_keeps_its_slot_until_the_job_ends(pool: HashingPool) -> None:
    release = threading.Event()
    running = asyncio.ensure_future(pool.run(release.wait, 10))
    await asyncio.sleep(0.01)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert pool.in_flight == 1  # the thread is still busy with it
    release.set()
    for _ in range(100):
        if pool.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.in_flight == 0


async def test_errors_propagate_and_free_the_slot(pool: HashingPool) -> None:
    with pytest.raises(ZeroDivisionError):
        await pool.run(divmod, 1, 0)
    assert pool.in_flight == 0


def test_zero_workers_means_one_per_cpu() -> None:
    pool = HashingPool(workers=0, queue_limit=4)
    try:
        assert pool.workers >= 1
        assert pool.capacity == pool.workers + 4
    finally:
        pool.shutdown()


async def test_event_loop_stays_responsive_during_parallel_argon2() -> None:
    # Costly enough (64 MiB, 3 passes) that each hash takes well over one 5 ms tick.
    hashers = build_hashers(time_cost=3, memory_kib=65536, parallelism=1)
    pool = HashingPool(workers=2, queue_limit=8)
    service = AsyncPasswordHashers(hashers, pool)
    ticks_while_hashing = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks_while_hashing
        while not done:
            await asyncio.sleep(0.005)
            if pool.in_flight > 0:
                ticks_while_hashing += 1

    task = asyncio.ensure_future(ticker())
    try:
        encoded = await asyncio.gather(*(service.hash(PASSWORD) for _ in range(4)))
    finally:
        done = True
        await task
        pool.shutdown()
    assert len(set(encoded)) == 4
    assert all(hashers.verify(PASSWORD, e).ok for e in encoded)
    assert ticks_while_hashing >= 3


class CountingHasher(Argon2idHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8192, parallelism=1)
        self.verifies = 0

    def verify(self, password: str, encoded: str) -> bool:
        self.verifies += 1
        return super().verify(password, encoded)


@pytest.mark.sec("SEC-64")
async def test_async_hashers_verify_known_and_unknown_users_at_equal_cost(pool: HashingPool) -> None:
    counting = CountingHasher()
    service = AsyncPasswordHashers(PasswordHashers([counting]), pool)
    stored = await service.hash(PASSWORD)
    assert (await service.verify(PASSWORD, stored)).ok

    counting.verifies = 0
    known = await service.verify_user("wrong password!", stored)
    known_cost = counting.verifies
    counting.verifies = 0
    unknown = await service.verify_user("wrong password!", None)
    assert known == unknown
    assert known.ok is False
    assert counting.verifies == known_cost == 1
    assert await service.dummy_verify(PASSWORD) is False
