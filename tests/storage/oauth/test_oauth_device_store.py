"""Contract of DeviceCodeStore on memory, SQLite, PostgreSQL and Redis (RFC 8628; SEC-37, SEC-75)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from oauth_store_backends import Backend

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.memory.oauth_device import MemoryDeviceCodeStore
from ostiary.storage.redis.oauth_device import RedisDeviceCodeStore
from ostiary.storage.sqlalchemy.oauth_device import SqlDeviceCodeStore

DEVICE = "d" * 64
USER = "u" * 64


def make_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryDeviceCodeStore(backend.clock)
    if backend.kind == "redis":
        assert backend.redis is not None
        return RedisDeviceCodeStore(backend.redis)
    assert backend.db is not None
    return SqlDeviceCodeStore(backend.db)


def pending(now: float, device: str = DEVICE, user: str = USER, **kw: Any) -> DeviceAuthorization:
    values: dict[str, Any] = {
        "device_code_digest": device,
        "user_code_digest": user,
        "client_id": "tv",
        "scope": ("openid", "profile", "videos:read"),
        "grant_id": "g-" + device[:8],
        "issued_at": now,
        "expires_at": now + 600,
        "interval": 5,
    }
    values.update(kw)
    return DeviceAuthorization(**values)


async def decide(store: Any, now: float, *, approve: bool = True, user: str = USER, who: str = "u1") -> Any:
    return await store.decide(
        user,
        approve=approve,
        user_id=who,
        auth_time=now - 30.5,
        amr=("pwd",),
        scope=("openid", "videos:read"),
        now=now,
    )


async def test_save_and_find_by_user_code(backend: Backend) -> None:
    store = make_store(backend)
    record = pending(backend.clock.now())
    await store.save(record)
    assert await store.get_by_user_code(USER) == record
    assert await store.get_by_user_code("x" * 64) is None


async def test_digest_collisions_are_refused(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    with pytest.raises(Conflict):
        await store.save(pending(now, user="v" * 64))  # same device code
    with pytest.raises(Conflict):
        await store.save(pending(now, device="e" * 64))  # same user code
    assert await store.get_by_user_code("v" * 64) is None


async def test_approve_then_redeem_once(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    assert await store.consume(DEVICE) is None  # pending: nothing to redeem, and nothing changes
    approved = await decide(store, now + 10)
    assert approved == replace(
        pending(now),
        status="approved",
        user_id="u1",
        auth_time=now + 10 - 30.5,
        amr=("pwd",),
        scope=("openid", "videos:read"),
        decided_at=now + 10,  # what the user's not-before is compared with at redemption
    )
    assert await store.get_by_user_code(USER) == approved
    assert await store.consume(DEVICE) == approved
    assert await store.consume(DEVICE) is None
    assert await store.get_by_user_code(USER) is None
    assert await store.poll(DEVICE, now=now + 20) is None  # redeemed: unknown to polling


@pytest.mark.sec("SEC-37")
async def test_a_denied_request_is_never_redeemable(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    denied = await decide(store, now + 1, approve=False)
    assert denied.status == "denied"
    assert denied.user_id == "u1"
    assert denied.decided_at == now + 1
    assert await decide(store, now + 2) is None  # a decision is final
    assert await store.consume(DEVICE) is None
    polled, _ = await store.poll(DEVICE, now=now + 3)
    assert polled.status == "denied"  # the poller learns access_denied


@pytest.mark.sec("SEC-37")
async def test_an_expired_request_cannot_be_decided(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    assert await decide(store, now + 600) is None  # expires_at itself is already too late
    assert await decide(store, now + 601) is None
    assert (await store.get_by_user_code(USER)).status == "pending"
    assert await store.consume(DEVICE) is None


@pytest.mark.sec("SEC-37")
async def test_poll_returns_the_previous_poll_time(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    first, previous = await store.poll(DEVICE, now=now + 5)
    assert previous is None
    assert first == replace(pending(now), last_polled_at=now + 5)
    second, previous = await store.poll(DEVICE, now=now + 7.5)
    assert previous == now + 5  # the grant answers slow_down: 2.5 s < interval
    assert second.last_polled_at == now + 7.5
    await decide(store, now + 8)
    third, previous = await store.poll(DEVICE, now=now + 13)
    assert previous == now + 7.5
    assert third.status == "approved"
    assert await store.poll("x" * 64, now=now) is None


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-75")
async def test_concurrent_decisions_have_exactly_one_winner(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    gate = asyncio.Barrier(10)

    async def one(i: int) -> Any:
        await gate.wait()
        return await decide(store, now + 1, approve=i % 2 == 0, who=f"u{i}")

    results = await asyncio.gather(*(one(i) for i in range(10)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get_by_user_code(USER) == winners[0]  # the stored decision is the winner's


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-75")
async def test_concurrent_redemptions_have_exactly_one_winner(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    for round_ in range(3):
        device, user = f"{round_:064d}", f"u{round_:063d}"
        await store.save(pending(now, device=device, user=user))
        await decide(store, now + 1, user=user)
        gate = asyncio.Barrier(10)

        async def one(device: str = device, gate: asyncio.Barrier = gate) -> Any:
            await gate.wait()
            return await store.consume(device)

        results = await asyncio.gather(*(one() for _ in range(10)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert winners[0].device_code_digest == device
        assert winners[0].status == "approved"


async def test_concurrent_polls_each_see_a_distinct_previous_time(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save(pending(now))
    results = await asyncio.gather(*(store.poll(DEVICE, now=now + i) for i in range(1, 9)))
    previous = [p for _, p in results]
    # Polls are serialised: exactly one saw no earlier poll, and no two saw the same one.
    assert previous.count(None) == 1
    assert len(set(previous)) == 8


async def test_sql_purge_drops_expired_requests(sql_backend: Backend) -> None:
    assert sql_backend.db is not None
    store = SqlDeviceCodeStore(sql_backend.db)
    now = sql_backend.clock.now()
    await store.save(pending(now, expires_at=now + 10))
    await store.save(pending(now, device="e" * 64, user="v" * 64, expires_at=now + 100))
    assert await store.purge(before=now + 50) == 1
    assert await store.get_by_user_code(USER) is None
    assert await store.get_by_user_code("v" * 64) is not None


async def test_redis_expiry_follows_the_record(redis_backend: Backend) -> None:
    assert redis_backend.redis is not None
    store = make_store(redis_backend)
    now = redis_backend.clock.now()
    await store.save(pending(now, expires_at=now + 0.3))
    for key in ("ostiary:oauth:device:" + DEVICE, "ostiary:oauth:device-user:" + USER):
        assert await redis_backend.redis.pexpiretime(key) == pytest.approx((now + 0.3) * 1000, abs=1)
    await redis_backend.advance(0.5)
    assert await store.get_by_user_code(USER) is None
    assert await store.poll(DEVICE, now=redis_backend.clock.now()) is None


def test_a_record_stored_before_decided_at_existed_reads_back_without_it() -> None:
    """A Redis hash or a row written by the previous release lacks the field: it is None, and the
    device grant then compares the not-before with the sign-in time (never later than the approval)."""
    stored = dict(vars(pending(1000.0)))
    del stored["decided_at"]
    assert DeviceAuthorization.from_fields(stored) == pending(1000.0)
