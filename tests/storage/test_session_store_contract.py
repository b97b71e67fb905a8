"""One contract for every SessionStore + UserSessionIndex: memory, SQL (SQLite, PostgreSQL), Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from helpers import add_user_rows, sql_database
from ostiary.authn.sessions import SessionConfig, SessionManager
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.memory.sessions import MemorySessionStore
from ostiary.storage.redis.sessions import RedisSessionStore
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.sessions import SqlSessionStore

IDLE = 3600
USERS = ("u1", "u2")


@dataclasses.dataclass
class Backend:
    name: str
    store: Any  # SessionStore + UserSessionIndex
    dump: Any  # async () -> str: everything the backend holds, as text

    async def everything(self) -> str:
        return str(await self.dump())


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind = request.param
    if kind == "memory":
        store = MemorySessionStore()

        async def dump_memory() -> str:
            return repr(store._by_digest)

        yield Backend(kind, store, dump_memory)
        return
    if kind == "redis":
        client = Redis.from_url(request.getfixturevalue("redis_url"))

        async def dump_redis() -> str:
            out = []
            async for key in client.scan_iter():
                kind_ = await client.type(key)
                value = await client.hgetall(key) if kind_ == b"hash" else await client.smembers(key)
                out.append((key, value))
            return repr(out)

        try:
            yield Backend(kind, RedisSessionStore(client), dump_redis)
        finally:
            await client.aclose()
        return
    async with sql_database(request, tmp_path, kind) as db:
        await add_user_rows(db, *USERS)

        async def dump_sql() -> str:
            async with db.read() as conn:
                return repr((await conn.execute(select(t.sessions))).all())

        yield Backend(kind, SqlSessionStore(db), dump_sql)


def record(digest: str, user_id: str = "u1", created_at: float = 1_000.0, **kw: Any) -> SessionRecord:
    values: dict[str, Any] = {
        "digest": digest,
        "user_id": user_id,
        "created_at": created_at,
        "last_seen_at": created_at,
        "expires_at": created_at + 86_400,
        "auth_time": created_at,
        "csrf_secret": "csrf-" + digest[:8],
        "ip": "192.0.2.1",
        "user_agent": "Mozilla/5.0 (test)",
        "amr": ("pwd", "otp"),
    }
    values.update(kw)
    return SessionRecord(**values)


def digest(n: int) -> str:
    return f"{n:064x}"


async def test_create_then_get_round_trips_every_field(backend: Backend) -> None:
    original = record(digest(1), created_at=1_234.5)
    await backend.store.create(original, idle_seconds=IDLE)
    assert await backend.store.get(digest(1)) == original
    assert await backend.store.get(digest(2)) is None


async def test_touch_moves_last_seen_and_ip_only(backend: Backend) -> None:
    original = record(digest(1))
    await backend.store.create(original, idle_seconds=IDLE)
    await backend.store.touch(digest(1), last_seen_at=1_500.0, idle_seconds=IDLE, ip="198.51.100.7")
    assert await backend.store.get(digest(1)) == dataclasses.replace(
        original, last_seen_at=1_500.0, ip="198.51.100.7"
    )


async def test_delete_reports_whether_it_existed(backend: Backend) -> None:
    await backend.store.create(record(digest(1)), idle_seconds=IDLE)
    assert await backend.store.delete(digest(1)) is True
    assert await backend.store.get(digest(1)) is None
    assert await backend.store.delete(digest(1)) is False
    assert await backend.store.delete(digest(99)) is False


async def test_touch_of_a_deleted_session_does_not_resurrect_it(backend: Backend) -> None:
    await backend.store.create(record(digest(1)), idle_seconds=IDLE)
    await backend.store.delete(digest(1))
    await backend.store.touch(digest(1), last_seen_at=2_000.0, idle_seconds=IDLE, ip="203.0.113.9")
    assert await backend.store.get(digest(1)) is None
    assert await backend.store.list_for_user("u1") == []
    # And a touch of something never created creates nothing.
    await backend.store.touch(digest(5), last_seen_at=2_000.0, idle_seconds=IDLE, ip="203.0.113.9")
    assert await backend.store.get(digest(5)) is None


async def test_list_for_user_returns_only_that_users_sessions_oldest_first(backend: Backend) -> None:
    await backend.store.create(record(digest(3), created_at=1_300.0), idle_seconds=IDLE)
    await backend.store.create(record(digest(1), created_at=1_100.0), idle_seconds=IDLE)
    await backend.store.create(record(digest(2), "u2", created_at=1_200.0), idle_seconds=IDLE)
    mine = await backend.store.list_for_user("u1")
    assert [r.digest for r in mine] == [digest(1), digest(3)]
    assert [r.digest for r in await backend.store.list_for_user("u2")] == [digest(2)]
    assert await backend.store.list_for_user("nobody") == []


async def test_delete_for_user_keeps_the_given_session_and_spares_other_users(backend: Backend) -> None:
    for n in (1, 2, 3):
        await backend.store.create(record(digest(n), created_at=1_000.0 + n), idle_seconds=IDLE)
    await backend.store.create(record(digest(9), "u2"), idle_seconds=IDLE)
    assert await backend.store.delete_for_user("u1", keep=digest(2)) == 2
    assert [r.digest for r in await backend.store.list_for_user("u1")] == [digest(2)]
    assert await backend.store.get(digest(1)) is None
    assert await backend.store.get(digest(3)) is None
    assert await backend.store.get(digest(9)) is not None
    assert await backend.store.delete_for_user("u1") == 1
    assert await backend.store.list_for_user("u1") == []
    assert await backend.store.get(digest(2)) is None
    assert await backend.store.delete_for_user("u1") == 0
    assert [r.digest for r in await backend.store.list_for_user("u2")] == [digest(9)]


async def test_a_deleted_session_leaves_the_users_list(backend: Backend) -> None:
    await backend.store.create(record(digest(1)), idle_seconds=IDLE)
    await backend.store.create(record(digest(2), created_at=1_001.0), idle_seconds=IDLE)
    await backend.store.delete(digest(1))
    assert [r.digest for r in await backend.store.list_for_user("u1")] == [digest(2)]


@pytest.mark.sec("SEC-09")
async def test_the_store_holds_only_digests_never_the_session_id(backend: Backend) -> None:
    manager = SessionManager(backend.store, backend.store, FrozenClock(), SessionConfig())
    new = await manager.create("u1", RequestMeta(ip="192.0.2.1", user_agent="ua"))
    assert len(new.session_id) >= 43  # 256 bits, base64url
    assert new.record.digest == SessionManager.digest(new.session_id) != new.session_id
    held = await backend.everything()
    assert new.record.digest in held
    assert new.session_id not in held
    assert await manager.load(new.session_id) is not None
    assert await manager.load(new.record.digest) is None  # the digest is not a credential
