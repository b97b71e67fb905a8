"""The API-key store contract on SQLite and PostgreSQL: migration 0007, lookup by prefix, listing,
revocation and rotation with exactly one winner under concurrency, the per-user cap, last use, and the
stateless revocation list (SEC-52, SEC-54)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from helpers import schema_differences
from ostiary.storage.interfaces.api_keys import ApiKeyKind, ApiKeyRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.api_keys import SqlApiKeyStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.users import SqlUserStore
from ostiary.storage.sqlalchemy.versioning import read_rbac_version

NOW = 1_000.0
RACERS = 5


def key(key_id: str, *, user: str = "u1", prefix: str | None = None, **changes: Any) -> ApiKeyRecord:
    kind: ApiKeyKind = "stateful" if prefix is not None else "stateless"
    record = ApiKeyRecord(
        id=key_id,
        kind=kind,
        user_id=user,
        name=f"key {key_id}",
        scopes=frozenset({"items:read", "items:write"}),
        created_at=NOW,
        expires_at=NOW + 3600,
        prefix=prefix,
        digest=("d" * 64) if prefix is not None else None,
    )
    return replace(record, **changes)


async def race(n: int, attempt: Callable[[], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Barrier(n)

    async def one() -> Any:
        await gate.wait()
        return await attempt()

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def version(db: Database) -> int:
    async with db.read() as conn:
        return await read_rbac_version(conn)


async def test_migration_0007_creates_exactly_the_api_keys_table(sql_db: Database) -> None:
    assert await schema_differences(sql_db, ["api_keys"]) == []


@pytest.mark.sec("SEC-52")
async def test_create_find_by_prefix_list_and_get(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    first = key("k1", prefix="AAAAAAAA")
    assert await store.create(first) == "created"
    assert await store.create(key("k2", prefix="AAAAAAAA")) == "prefix_taken"  # prefixes are unique
    assert await store.create(key("k3", created_at=NOW + 1)) == "created"  # stateless: no prefix
    assert await store.create(key("k4", created_at=NOW + 2)) == "created"  # many stateless rows
    assert await store.create(key("k5", user="u2", prefix="BBBBBBBB")) == "created"
    assert await store.find_by_prefix("AAAAAAAA") == first
    assert await store.find_by_prefix("CCCCCCCC") is None
    assert await store.get("k1") == first
    assert await store.get("nope") is None
    assert [r.id for r in await store.list_user("u1")] == ["k4", "k3", "k1"]  # newest first
    assert [r.id for r in await store.list_user("u2")] == ["k5"]


@pytest.mark.sec("SEC-54")
async def test_revoke_once_bumps_the_version_and_cuts_a_rotation_grace_short(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    await store.create(key("k1", prefix="AAAAAAAA"))
    before = await version(sql_db)
    results = await race(RACERS, lambda: store.revoke("k1", now=NOW + 5, reason="revoked"))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (winners[0].revoked_at, winners[0].revoke_reason) == (NOW + 5, "revoked")
    assert await version(sql_db) == before + 1
    assert await store.revoke("k1", now=NOW + 6, reason="revoked") is None  # already dead
    assert await store.revoke("unknown", now=NOW, reason="revoked") is None
    # A key in its rotation grace (revoked_at in the future) can still be revoked at once.
    await store.create(key("k2", prefix="BBBBBBBB"))
    assert await store.rotate("k2", key("k3", prefix="CCCCCCCC"), now=NOW, grace=600) == "rotated"
    revoked = await store.revoke("k2", now=NOW + 10, reason="revoked")
    assert revoked is not None
    assert revoked.revoked_at == NOW + 10


@pytest.mark.sec("SEC-54")
async def test_rotation_has_exactly_one_winner(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    await store.create(key("old", prefix="AAAAAAAA"))
    before = await version(sql_db)
    counter = iter(range(RACERS))

    async def rotate() -> str:
        n = next(counter)
        new = key(f"new{n}", prefix=f"NEWKEY0{n}", rotated_from="old")
        return await store.rotate("old", new, now=NOW + 1, grace=60)

    results = await race(RACERS, rotate)
    assert sorted(results) == ["not_live"] * (RACERS - 1) + ["rotated"]
    old = await store.get("old")
    assert old is not None
    assert old.replaced_by is not None
    assert (old.revoked_at, old.revoke_reason) == (NOW + 61, "rotated")
    assert old.live_at(NOW + 60) and not old.live_at(NOW + 61)
    assert [r.id for r in await store.list_user("u1") if r.rotated_from == "old"] == [old.replaced_by]
    assert await version(sql_db) == before + 1
    # A prefix collision changes nothing.
    await store.create(key("other", prefix="BBBBBBBB"))
    taken = key("x", prefix="BBBBBBBB")
    assert await store.rotate(old.replaced_by, taken, now=NOW + 2, grace=0) == "prefix_taken"
    assert await store.get("x") is None
    # An expired key cannot be rotated.
    assert await store.rotate("other", key("y", prefix="YYYYYYYY"), now=NOW + 7200, grace=0) == "not_live"


async def test_the_live_key_cap_holds_under_concurrency(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    await store.create(key("dead", prefix="DEADDEAD", expires_at=NOW - 1))  # expired: not counted
    counter = iter(range(RACERS))

    async def create() -> str:
        n = next(counter)
        return await store.create(key(f"k{n}", prefix=f"PREFIX0{n}"), max_live=2)

    results = await race(RACERS, create)
    assert sorted(results) == ["created"] * 2 + ["limit_reached"] * (RACERS - 2)
    assert await store.create(key("u2key", user="u2", prefix="OTHERUSR"), max_live=2) == "created"


async def test_touch_writes_at_most_once_per_interval(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    await store.create(key("k1", prefix="AAAAAAAA"))
    assert await store.touch("k1", now=NOW + 10, ip="192.0.2.1", min_interval=60)
    assert not await store.touch("k1", now=NOW + 30, ip="192.0.2.2", min_interval=60)
    record = await store.get("k1")
    assert record is not None
    assert (record.last_used_at, record.last_used_ip) == (NOW + 10, "192.0.2.1")
    assert await store.touch("k1", now=NOW + 70, ip=None, min_interval=60)
    record = await store.get("k1")
    assert record is not None
    assert (record.last_used_at, record.last_used_ip) == (NOW + 70, None)


@pytest.mark.sec("SEC-54")
async def test_revocation_list_holds_revoked_and_rotating_stateless_keys_until_they_expire(
    sql_db: Database,
) -> None:
    store = SqlApiKeyStore(sql_db)
    for key_id in ("live", "revoked", "rotating", "expired"):
        await store.create(key(key_id, expires_at=NOW + (10 if key_id == "expired" else 3600)))
    await store.create(key("stateful", prefix="AAAAAAAA"))
    await store.revoke("revoked", now=NOW + 1, reason="revoked")
    await store.revoke("expired", now=NOW + 1, reason="revoked")
    await store.revoke("stateful", now=NOW + 1, reason="revoked")
    assert await store.rotate("rotating", key("next"), now=NOW + 2, grace=300) == "rotated"
    assert await store.revoked_stateless(now=NOW + 5) == {
        "revoked": NOW + 1,
        "rotating": NOW + 302,
        "expired": NOW + 1,
    }
    assert "expired" not in await store.revoked_stateless(now=NOW + 10)  # gone once it expired
    assert await store.revoked_stateless(now=NOW + 4000) == {}  # expired keys leave the list


async def test_deleting_the_owner_deletes_the_keys(sql_db: Database) -> None:
    store = SqlApiKeyStore(sql_db)
    await store.create(key("k1", user="u2", prefix="AAAAAAAA"))
    async with sql_db.write() as conn:
        await conn.execute(t.users.delete().where(t.users.c.id == "u2"))
    assert await SqlUserStore(sql_db).get("u2") is None
    assert await store.get("k1") is None
