"""Contract of RefreshTokenStore / RefreshFamilyIndex on memory, SQLite and PostgreSQL (SEC-74, SEC-80),
and of the SQL SigningKeyStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from helpers import add_user_rows, migrated_db
from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily, RefreshTokenRecord
from ostiary.storage.interfaces.signing_keys import StoredSigningKey
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokenStore
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore
from ostiary.storage.sqlalchemy.signing_keys import SqlSigningKeyStore

NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryRefreshTokenStore()
        return
    server: Any = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        url = server.url(name)
    db = await migrated_db(url)
    await add_user_rows(db, "u1", "u2")
    try:
        yield SqlRefreshTokenStore(db)
    finally:
        await db.dispose()
        if server is not None:
            server.drop_database(name)


def family(fid: str = "f1", user: str = "u1", **kw: Any) -> RefreshFamily:
    values: dict[str, Any] = {
        "id": fid,
        "user_id": user,
        "client_id": "ostiary",
        "device": "phone",
        "scope": "docs:read",
        "auth_time": NOW,
        "created_at": NOW,
        "last_used_at": NOW,
        "expires_at": NOW + 1000,
        "access_expires_at": NOW + 600,
    }
    values.update(kw)
    return RefreshFamily(**values)


def token(digest: str, fid: str = "f1", **kw: Any) -> RefreshTokenRecord:
    values: dict[str, Any] = {
        "digest": digest,
        "family_id": fid,
        "state": "active",
        "created_at": NOW,
        "expires_at": NOW + 500,
    }
    values.update(kw)
    return RefreshTokenRecord(**values)


async def test_create_and_get(store: Any) -> None:
    await store.create_family(family(), token("a" * 64))
    found = await store.get("a" * 64)
    assert found is not None
    tok, fam = found
    assert tok.state == "active"
    assert tok.replay is None
    assert fam == family()
    assert await store.get("b" * 64) is None
    with pytest.raises(Conflict):
        await store.create_family(family(), token("c" * 64))


@pytest.mark.sec("SEC-74")
async def test_rotate_is_compare_and_set(store: Any) -> None:
    await store.create_family(family(), token("a" * 64))
    child = token("b" * 64, parent_digest="a" * 64, replay=b"sealed")
    assert await store.rotate("a" * 64, child, at=NOW + 1, access_expires_at=NOW + 601)
    assert not await store.rotate("a" * 64, token("c" * 64), at=NOW + 2, access_expires_at=NOW + 602)
    parent, fam = await store.get("a" * 64)
    assert parent.state == "rotated"
    assert parent.successor_digest == "b" * 64
    assert parent.replay == b"sealed"
    assert parent.rotated_at == NOW + 1
    assert fam.last_used_at == NOW + 1
    assert fam.access_expires_at == NOW + 601
    new, _ = await store.get("b" * 64)
    assert new.state == "active"
    assert new.replay is None  # the sealed value lives on the parent only
    assert await store.get("c" * 64) is None
    # Rotating the child clears the grandparent's replay: only the newest rotation can be replayed.
    assert await store.rotate(
        "b" * 64,
        token("d" * 64, parent_digest="b" * 64, replay=b"x"),
        at=NOW + 3,
        access_expires_at=NOW + 603,
    )
    grandparent, _ = await store.get("a" * 64)
    assert grandparent.replay is None


@pytest.mark.sec("SEC-74")
async def test_concurrent_rotations_have_exactly_one_winner(store: Any) -> None:
    await store.create_family(family(), token("a" * 64))
    barrier = asyncio.Barrier(20)

    async def attempt(i: int) -> bool:
        await barrier.wait()
        child = token(f"{i:064d}", parent_digest="a" * 64)
        return bool(await store.rotate("a" * 64, child, at=NOW + 1, access_expires_at=NOW + 601))

    results = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert results.count(True) == 1
    winner = results.index(True)
    parent, _ = await store.get("a" * 64)
    assert parent.successor_digest == f"{winner:064d}"
    for i in range(20):  # the losers left nothing behind (all-or-nothing, SEC-80)
        assert (await store.get(f"{i:064d}") is not None) == (i == winner)


@pytest.mark.sec("SEC-35")
async def test_revoke_family_revokes_every_token_and_blocks_rotation(store: Any) -> None:
    await store.create_family(family(), token("a" * 64))
    assert await store.rotate(
        "a" * 64, token("b" * 64, parent_digest="a" * 64, replay=b"s"), at=NOW, access_expires_at=NOW
    )
    assert not await store.revoke_family("f1", at=NOW + 1, reason="user", user_id="u2")  # not theirs
    assert await store.revoke_family("f1", at=NOW + 1, reason="reuse_detected")
    assert not await store.revoke_family("f1", at=NOW + 2, reason="again")
    for digest in ("a" * 64, "b" * 64):
        tok, fam = await store.get(digest)
        assert tok.state == "revoked"
        assert tok.replay is None
        assert fam.revoked_at == NOW + 1
        assert fam.revoke_reason == "reuse_detected"
    assert not await store.rotate("b" * 64, token("c" * 64), at=NOW + 3, access_expires_at=NOW)


@pytest.mark.sec("SEC-12")
async def test_revoke_user_and_list(store: Any) -> None:
    await store.create_family(family("f1"), token("a" * 64, "f1"))
    await store.create_family(family("f2", created_at=NOW + 1), token("b" * 64, "f2"))
    await store.create_family(family("f3", user="u2"), token("c" * 64, "f3"))
    await store.create_family(family("f4", expires_at=NOW - 1), token("d" * 64, "f4"))
    assert [f.id for f in await store.list_for_user("u1", now=NOW)] == ["f1", "f2"]
    assert await store.revoke_user("u1", at=NOW, reason="password_change") == 3
    assert await store.list_for_user("u1", now=NOW) == []
    assert [f.id for f in await store.list_for_user("u2", now=NOW)] == ["f3"]
    assert await store.purge(before=NOW + 1) == 3
    assert await store.get("a" * 64) is None
    assert await store.get("c" * 64) is not None


async def test_sql_signing_key_store(database_url: str) -> None:
    db = await migrated_db(database_url)
    try:
        keys = SqlSigningKeyStore(db)
        key = StoredSigningKey("k1", "ES256", b"\x01sealed", '{"kid":"k1"}', "next", NOW)
        await keys.add(key)
        with pytest.raises(Conflict):
            await keys.add(key)
        assert await keys.list_all() == [key]
        assert await keys.transition("k1", "next", "active", NOW + 1)
        assert not await keys.transition("k1", "next", "active", NOW + 2)
        assert await keys.transition("k1", "active", "retired", NOW + 3)
        (stored,) = await keys.list_all()
        assert (stored.state, stored.activated_at, stored.retired_at) == ("retired", NOW + 1, NOW + 3)
        assert await keys.delete("k1")
        assert not await keys.delete("k1")
    finally:
        await db.dispose()
