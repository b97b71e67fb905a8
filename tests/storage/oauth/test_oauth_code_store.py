"""Contract of AuthorizationCodeStore on memory, SQLite, PostgreSQL and Redis (SEC-29, SEC-75)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from oauth_store_backends import Backend

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_codes import REDEEMED_MEMORY_SECONDS, AuthorizationCodeRecord
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore
from ostiary.storage.redis.oauth_codes import RedisAuthorizationCodeStore
from ostiary.storage.sqlalchemy.oauth_codes import SqlAuthorizationCodeStore


def make_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryAuthorizationCodeStore(backend.clock)
    if backend.kind == "redis":
        assert backend.redis is not None
        return RedisAuthorizationCodeStore(backend.redis)
    assert backend.db is not None
    return SqlAuthorizationCodeStore(backend.db, backend.clock)


def record(now: float, grant_id: str = "g1", **kw: Any) -> AuthorizationCodeRecord:
    values: dict[str, Any] = {
        "client_id": "app",
        "user_id": "u1",
        "grant_id": grant_id,
        "redirect_uri": "https://app.example/cb?x=1",
        "redirect_uri_provided": True,
        "scope": ("openid", "profile"),
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "issued_at": now,
        "expires_at": now + 60,
        "auth_time": now - 5.25,
        "amr": ("pwd", "otp"),
        "acr": "urn:ostiary:mfa",
        "nonce": "n-0S6_WzA2Mj",
        "sid": "sid-1",
    }
    values.update(kw)
    return AuthorizationCodeRecord(**values)


async def test_consume_returns_the_saved_record_once(backend: Backend) -> None:
    store = make_store(backend)
    saved = record(backend.clock.now())
    await store.save("a" * 64, saved)
    assert await store.get_redeemed("a" * 64) is None
    assert await store.consume("a" * 64) == saved
    assert await store.consume("a" * 64) is None
    assert await store.get_redeemed("a" * 64) == "g1"


async def test_optional_fields_round_trip_as_none(backend: Backend) -> None:
    store = make_store(backend)
    minimal = record(
        backend.clock.now(),
        redirect_uri_provided=False,
        scope=(),
        code_challenge=None,
        code_challenge_method=None,
        amr=(),
        acr=None,
        nonce=None,
        sid=None,
    )
    await store.save("b" * 64, minimal)
    assert await store.consume("b" * 64) == minimal


async def test_unknown_code(backend: Backend) -> None:
    store = make_store(backend)
    assert await store.consume("c" * 64) is None
    assert await store.get_redeemed("c" * 64) is None


async def test_codes_are_independent(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save("a" * 64, record(now, grant_id="g1"))
    await store.save("b" * 64, record(now, grant_id="g2"))
    assert (await store.consume("b" * 64)).grant_id == "g2"
    assert await store.get_redeemed("a" * 64) is None
    assert (await store.consume("a" * 64)).grant_id == "g1"


async def test_a_redeemed_digest_cannot_be_saved_again(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    await store.save("a" * 64, record(now))
    # The memory store predates this contract and raises ValueError; the others raise Conflict.
    with pytest.raises((Conflict, ValueError)):
        await store.save("a" * 64, record(now, grant_id="g2"))
    await store.consume("a" * 64)
    with pytest.raises((Conflict, ValueError)):
        await store.save("a" * 64, record(now, grant_id="g3"))
    assert await store.consume("a" * 64) is None
    assert await store.get_redeemed("a" * 64) == "g1"


@pytest.mark.sec("SEC-29")
@pytest.mark.sec("SEC-75")
async def test_concurrent_consumes_have_exactly_one_winner(backend: Backend) -> None:
    store = make_store(backend)
    now = backend.clock.now()
    for round_ in range(3):
        digest = f"{round_:064d}"
        await store.save(digest, record(now, grant_id=f"g{round_}"))
        gate = asyncio.Barrier(10)

        async def consume(digest: str = digest, gate: asyncio.Barrier = gate) -> Any:
            await gate.wait()
            return await store.consume(digest)

        results = await asyncio.gather(*(consume() for _ in range(10)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert winners[0].grant_id == f"g{round_}"
        # Every loser, looking right after, finds the grant to revoke.
        losers = await asyncio.gather(*(store.get_redeemed(digest) for _ in range(9)))
        assert losers == [f"g{round_}"] * 9


@pytest.mark.sec("SEC-29")
async def test_sql_forgets_a_redemption_after_its_memory(sql_backend: Backend) -> None:
    assert sql_backend.db is not None
    store = SqlAuthorizationCodeStore(sql_backend.db, sql_backend.clock)
    saved = record(sql_backend.clock.now())
    await store.save("a" * 64, saved)
    await store.save("b" * 64, record(sql_backend.clock.now(), grant_id="g2"))
    await store.consume("a" * 64)
    sql_backend.clock.set(saved.expires_at + REDEEMED_MEMORY_SECONDS - 1)
    assert await store.get_redeemed("a" * 64) == "g1"  # a replay 30 s (or 59 min) later still revokes
    sql_backend.clock.set(saved.expires_at + REDEEMED_MEMORY_SECONDS + 1)
    assert await store.get_redeemed("a" * 64) is None
    # purge drops the forgotten redemption and the code that expired unredeemed, nothing else.
    await store.save("c" * 64, record(sql_backend.clock.now(), grant_id="g3"))
    assert await store.purge(before=sql_backend.clock.now()) == 2
    assert await store.consume("b" * 64) is None
    assert (await store.consume("c" * 64)).grant_id == "g3"


@pytest.mark.sec("SEC-29")
async def test_redis_expiry_follows_the_record(redis_backend: Backend) -> None:
    backend = redis_backend
    assert backend.redis is not None
    store = make_store(backend)
    saved = record(backend.clock.now())
    await store.save("a" * 64, saved)
    assert await backend.redis.pexpiretime("ostiary:oauth:code:" + "a" * 64) == pytest.approx(
        saved.expires_at * 1000, abs=1
    )
    await store.consume("a" * 64)
    assert await backend.redis.exists("ostiary:oauth:code:" + "a" * 64) == 0
    assert await backend.redis.pexpiretime("ostiary:oauth:code-redeemed:" + "a" * 64) == pytest.approx(
        (saved.expires_at + REDEEMED_MEMORY_SECONDS) * 1000, abs=1
    )
    # An expired code is gone by itself.
    await store.save("b" * 64, record(backend.clock.now(), expires_at=backend.clock.now() + 0.2))
    await backend.advance(0.4)
    assert await store.consume("b" * 64) is None
