"""authn/mfa_throttle.py: the per-user counter of wrong second-factor codes (SEC-48)."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.authn.lockout import Lockout
from ostiary.authn.mfa_throttle import MfaLocked, MfaThrottle, MfaThrottleConfig
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.attempts import AttemptState
from ostiary.storage.memory.attempts import MemoryAttemptStore


class InterleavingStore(MemoryAttemptStore):
    """Yields to the event loop inside every call, as a networked store does, so that parallel
    attempts really interleave between their read and their increment."""

    async def get(self, key: str) -> AttemptState | None:
        await asyncio.sleep(0)
        return await super().get(key)

    async def record_failure(self, key: str, *, now: float) -> AttemptState:
        await asyncio.sleep(0)
        return await super().record_failure(key, now=now)


def throttle(clock: FrozenClock, store: MemoryAttemptStore | None = None) -> MfaThrottle:
    return MfaThrottle(store or MemoryAttemptStore(), clock, MfaThrottleConfig(5, 300, 3600))


async def wrong(t: MfaThrottle, times: int, user: str = "u1") -> None:
    for _ in range(times):
        await t.reserve(user)  # a reserved attempt that is not followed by `succeeded` is a failure


@pytest.mark.sec("SEC-48")
async def test_five_wrong_codes_lock_the_factor_and_the_lock_doubles() -> None:
    clock = FrozenClock()
    t = throttle(clock)
    await wrong(t, 5)
    with pytest.raises(MfaLocked) as locked:
        await t.reserve("u1")
    assert locked.value.retry_after == 300
    assert locked.value.code == "mfa_locked" and locked.value.status == 429
    clock.advance(299)
    with pytest.raises(MfaLocked):
        await t.reserve("u1")
    clock.advance(1)
    await t.reserve("u1")  # one try after the lock; wrong again → 600 s
    with pytest.raises(MfaLocked) as again:
        await t.reserve("u1")
    assert again.value.retry_after == 600
    assert [t.lock_after(n) for n in (4, 5, 6, 7, 8, 9, 10, 50)] == [
        0,
        300,
        600,
        1200,
        2400,
        3600,
        3600,
        3600,
    ]


@pytest.mark.sec("SEC-48")
async def test_only_a_correct_code_resets_and_other_users_are_untouched() -> None:
    clock = FrozenClock()
    store = MemoryAttemptStore()
    t = throttle(clock, store)
    await wrong(t, 4)
    await wrong(t, 4, user="u2")
    await t.reserve("u1")
    await t.succeeded("u1")
    assert await t.state("u1") is None
    await wrong(t, 5)  # a fresh budget after the success
    state = await t.state("u2")
    assert state is not None and state.failures == 4
    # Its own key, apart from the password lockout of the same account.
    assert MfaThrottle.key_for("u1") != Lockout.key_for("u1")
    assert await store.get(Lockout.key_for("u1")) is None


@pytest.mark.sec("SEC-48")
async def test_a_burst_of_parallel_attempts_gets_only_the_budget() -> None:
    clock = FrozenClock()
    store = InterleavingStore()
    t = throttle(clock, store)
    await wrong(t, 3)
    gate = asyncio.Barrier(20)

    async def attempt() -> bool:
        await gate.wait()
        try:
            await t.reserve("u1")
        except MfaLocked:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(20)))
    assert results.count(True) == 2  # 3 spent, 5 allowed
    state = await store.get(MfaThrottle.key_for("u1"))
    assert state is not None and state.failures == 23, "all 20 read the count before any increment"
    clock.advance(3600)
    gate = asyncio.Barrier(20)
    results = await asyncio.gather(*(attempt() for _ in range(20)))
    assert results.count(True) == 1  # after a lock: one try, however many arrive at once
