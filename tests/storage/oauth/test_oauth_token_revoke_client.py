"""Contract of `OpaqueTokenStore.revoke_client` on memory, SQLite, PostgreSQL and Redis (SEC-12): a
disabled client's opaque access tokens are gone, every other client's stay."""

from __future__ import annotations

import pytest
from oauth_store_backends import Backend
from test_oauth_grant_stores import token, token_store

from ostiary.storage.redis import oauth_grants as redis_grants


@pytest.mark.sec("SEC-12")
async def test_revoke_client_kills_every_token_of_that_client_only(backend: Backend) -> None:
    store = token_store(backend)
    now = backend.clock.now()
    await store.save(token("a" * 64, now, grant_id="g1"))
    await store.save(token("b" * 64, now, grant_id="g2"))
    await store.save(token("c" * 64, now, grant_id="g3", client_id="other"))
    await store.save(token("d" * 64, now, grant_id="g1"))
    assert await store.revoke("d" * 64) is True  # already gone: not counted again

    assert await store.revoke_client("app") == 2
    assert await store.get("a" * 64) is None
    assert await store.get("b" * 64) is None
    assert await store.get("c" * 64) is not None
    assert await store.revoke_client("app") == 0
    assert await store.revoke_grant("g1") == 0  # the grant's index agrees
    # The client can be given tokens again (enabled again), and those are revocable too.
    await store.save(token("e" * 64, now, grant_id="g4"))
    assert await store.get("e" * 64) is not None
    assert await store.revoke_client("app") == 1


@pytest.mark.sec("SEC-12")
async def test_revoke_client_goes_through_many_tokens_in_batches(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_grants, "REVOKE_CLIENT_BATCH", 3)
    store = token_store(backend)
    now = backend.clock.now()
    for i in range(10):
        await store.save(token(f"{i:064d}", now, grant_id=f"g{i % 4}"))
    assert await store.revoke_client("app") == 10
    assert all([await store.get(f"{i:064d}") is None for i in range(10)])


async def test_redis_client_index_holds_only_live_tokens(redis_backend: Backend) -> None:
    """Each save trims the expired members, so the index of a busy client stays bounded."""
    assert redis_backend.redis is not None
    store = token_store(redis_backend)
    now = redis_backend.clock.now()
    await store.save(token("a" * 64, now, expires_at=now + 0.2))
    await store.save(token("b" * 64, now, expires_at=now + 0.2))
    await redis_backend.advance(0.4)
    await store.save(token("c" * 64, redis_backend.clock.now()))
    members = await redis_backend.redis.zrange("ostiary:oauth:at-client:app", 0, -1)
    assert members == [b"c" * 64]
    assert await store.revoke_client("app") == 1
    assert await redis_backend.redis.exists("ostiary:oauth:at-client:app") == 0
