"""Contracts of RevokedGrantStore and OpaqueTokenStore on memory, SQLite, PostgreSQL and Redis
(RFC 7009 §2.1, RFC 7662 §2.2; SEC-29)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from oauth_store_backends import Backend

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken
from ostiary.storage.memory.oauth_grants import MemoryOpaqueTokenStore, MemoryRevokedGrantStore
from ostiary.storage.redis.oauth_grants import RedisOpaqueTokenStore, RedisRevokedGrantStore
from ostiary.storage.sqlalchemy.oauth_grants import SqlOpaqueTokenStore, SqlRevokedGrantStore


def revoked_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryRevokedGrantStore(backend.clock)
    if backend.kind == "redis":
        assert backend.redis is not None
        return RedisRevokedGrantStore(backend.redis)
    assert backend.db is not None
    return SqlRevokedGrantStore(backend.db, backend.clock)


def token_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryOpaqueTokenStore(backend.clock)
    if backend.kind == "redis":
        assert backend.redis is not None
        return RedisOpaqueTokenStore(backend.redis)
    assert backend.db is not None
    return SqlOpaqueTokenStore(backend.db, backend.clock)


def token(digest: str, now: float, grant_id: str = "g1", **kw: Any) -> OpaqueAccessToken:
    values: dict[str, Any] = {
        "digest": digest,
        "client_id": "app",
        "subject": "u1",
        "scope": ("openid", "docs:read"),
        "grant_id": grant_id,
        "issued_at": now,
        "expires_at": now + 600,
        "user_id": "u1",
        "auth_time": now - 12.5,
        "sid": "sid-1",
    }
    values.update(kw)
    return OpaqueAccessToken(**values)


@pytest.mark.sec("SEC-29")
async def test_revoked_grant_is_remembered_until_its_time(backend: Backend) -> None:
    store = revoked_store(backend)
    now = backend.clock.now()
    assert await store.is_revoked("g1") is False
    await store.revoke("g1", at=now, remember_until=now + 0.3)
    assert await store.is_revoked("g1") is True
    assert await store.is_revoked("g2") is False
    await backend.advance(0.5)
    assert await store.is_revoked("g1") is False


@pytest.mark.sec("SEC-29")
async def test_revoking_again_never_shortens_the_memory(backend: Backend) -> None:
    store = revoked_store(backend)
    now = backend.clock.now()
    await store.revoke("g1", at=now, remember_until=now + 3600)
    await store.revoke("g1", at=now + 0.1, remember_until=now + 0.2)  # idempotent, and no shorter
    await asyncio.gather(*(store.revoke("g1", at=now, remember_until=now + 0.2) for _ in range(5)))
    await backend.advance(0.4)
    assert await store.is_revoked("g1") is True
    # ...but a later revocation may extend it.
    await store.revoke("g2", at=now, remember_until=now + 0.2)
    await store.revoke("g2", at=now, remember_until=now + 3600)
    await backend.advance(0.4)
    assert await store.is_revoked("g2") is True


async def test_a_revocation_already_past_is_not_remembered(backend: Backend) -> None:
    store = revoked_store(backend)
    now = backend.clock.now()
    await store.revoke("g1", at=now - 10, remember_until=now - 1)
    assert await store.is_revoked("g1") is False


async def test_the_feed_lists_live_revocations_by_time(backend: Backend) -> None:
    """RevokedGrantFeed (SQL and memory; Redis answers each check with one EXISTS instead)."""
    if backend.kind == "redis":
        pytest.skip("the Redis store is not a feed")
    store = revoked_store(backend)
    now = backend.clock.now()
    await store.revoke("old", at=now - 100, remember_until=now + 3600)
    await store.revoke("new", at=now, remember_until=now + 3600)
    await store.revoke("short", at=now, remember_until=now + 0.2)
    await store.revoke("past", at=now, remember_until=now - 1)
    assert {g.grant_id for g in await store.revoked_since(now - 1000)} == {"old", "new", "short"}
    assert {g.grant_id for g in await store.revoked_since(now - 50)} == {"new", "short"}
    (new,) = [g for g in await store.revoked_since(now) if g.grant_id == "new"]
    assert (new.revoked_at, new.remember_until) == (now, now + 3600)
    # Revoking again moves revoked_at forward, so a follower catching up from `since` learns of it.
    await store.revoke("old", at=now + 5, remember_until=now + 7200)
    (old,) = [g for g in await store.revoked_since(now + 1) if g.grant_id == "old"]
    assert (old.revoked_at, old.remember_until) == (now + 5, now + 7200)
    await backend.advance(0.4)
    assert {g.grant_id for g in await store.revoked_since(now - 1000)} == {"old", "new"}


async def test_token_round_trip(backend: Backend) -> None:
    store = token_store(backend)
    now = backend.clock.now()
    user_token = token("a" * 64, now)
    client_token = token(
        "b" * 64, now, grant_id="g2", subject="client:app", scope=(), user_id=None, auth_time=None, sid=None
    )
    await store.save(user_token)
    await store.save(client_token)
    assert await store.get("a" * 64) == user_token
    assert await store.get("b" * 64) == client_token
    assert await store.get("c" * 64) is None
    with pytest.raises(Conflict):
        await store.save(token("a" * 64, now, grant_id="g3"))
    assert await store.get("a" * 64) == user_token


async def test_revoke_one_token(backend: Backend) -> None:
    store = token_store(backend)
    now = backend.clock.now()
    await store.save(token("a" * 64, now))
    await store.save(token("b" * 64, now))
    assert await store.revoke("a" * 64) is True
    assert await store.get("a" * 64) is None
    assert await store.revoke("a" * 64) is False
    assert await store.revoke("c" * 64) is False
    assert await store.get("b" * 64) is not None


async def test_concurrent_revocations_of_one_token_count_once(backend: Backend) -> None:
    store = token_store(backend)
    await store.save(token("a" * 64, backend.clock.now()))
    results = await asyncio.gather(*(store.revoke("a" * 64) for _ in range(10)))
    assert results.count(True) == 1


@pytest.mark.sec("SEC-29")
async def test_revoke_grant_kills_every_live_token_of_the_grant_only(backend: Backend) -> None:
    store = token_store(backend)
    now = backend.clock.now()
    for i in range(3):
        await store.save(token(f"{i:064d}", now, grant_id="g1", expires_at=now + 60 * (i + 1)))
    await store.save(token("f" * 64, now, grant_id="g2"))
    assert await store.revoke(f"{0:064d}") is True
    assert await store.revoke_grant("g1") == 2  # the one already revoked is not counted again
    for i in range(3):
        assert await store.get(f"{i:064d}") is None
    assert await store.revoke_grant("g1") == 0
    assert await store.revoke_grant("unknown") == 0
    assert await store.get("f" * 64) is not None
    # Tokens minted for the grant afterwards are the revoked-grant store's to refuse; this store
    # still revokes them when asked again.
    await store.save(token("e" * 64, now, grant_id="g1"))
    assert await store.revoke_grant("g1") == 1


@pytest.mark.sec("SEC-29")
async def test_revoke_grant_racing_saves_leaves_no_live_token(backend: Backend) -> None:
    store = token_store(backend)
    now = backend.clock.now()
    saves = [store.save(token(f"{i:064d}", now, grant_id="g1")) for i in range(10)]
    results = await asyncio.gather(*saves, store.revoke_grant("g1"))
    revoked_in_race = results[-1]
    revoked_after = await store.revoke_grant("g1")
    assert revoked_in_race + revoked_after == 10
    assert all([await store.get(f"{i:064d}") is None for i in range(10)])


async def test_sql_purge(sql_backend: Backend) -> None:
    assert sql_backend.db is not None
    grants = SqlRevokedGrantStore(sql_backend.db, sql_backend.clock)
    tokens = SqlOpaqueTokenStore(sql_backend.db, sql_backend.clock)
    now = sql_backend.clock.now()
    await grants.revoke("old", at=now, remember_until=now + 10)
    await grants.revoke("new", at=now, remember_until=now + 100)
    await tokens.save(token("a" * 64, now, expires_at=now + 10))
    await tokens.save(token("b" * 64, now, expires_at=now + 100))
    await tokens.revoke("b" * 64)
    assert await grants.purge(before=now + 50) == 1
    assert await tokens.purge(before=now + 50) == 1
    sql_backend.clock.set(now + 20)
    assert await grants.is_revoked("new") is True
    assert await tokens.get("b" * 64) is None  # revoked, not purged: still not live
    assert await tokens.revoke("b" * 64) is False


async def test_redis_expiry_follows_the_records(redis_backend: Backend) -> None:
    r = redis_backend.redis
    assert r is not None
    now = redis_backend.clock.now()
    tokens = token_store(redis_backend)
    await tokens.save(token("a" * 64, now, expires_at=now + 60))
    await tokens.save(token("b" * 64, now, expires_at=now + 600))
    await tokens.save(token("c" * 64, now, expires_at=now + 30))
    assert await r.pexpiretime("ostiary:oauth:at:" + "a" * 64) == pytest.approx((now + 60) * 1000, abs=1)
    # The grant's index lives as long as its longest-lived token.
    assert await r.pexpiretime("ostiary:oauth:at-grant:g1") == pytest.approx((now + 600) * 1000, abs=1)
    grants = revoked_store(redis_backend)
    await grants.revoke("g1", at=now, remember_until=now + 900)
    assert await r.pexpiretime("ostiary:oauth:grant-revoked:g1") == pytest.approx((now + 900) * 1000, abs=1)
    await tokens.save(token("d" * 64, now, expires_at=now + 0.2, grant_id="g9"))
    await redis_backend.advance(0.4)
    assert await tokens.get("d" * 64) is None
