"""Contract of ConsentStore on memory, SQLite and PostgreSQL (OIDC Core §3.1.2.4; SEC-41)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from oauth_store_backends import Backend
from sqlalchemy import delete

from ostiary.core.errors import NotFound
from ostiary.storage.interfaces.oauth_consents import Consent
from ostiary.storage.memory.oauth_consents import MemoryConsentStore
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.oauth_consents import SqlConsentStore


def make_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryConsentStore(backend.clock)
    assert backend.db is not None
    return SqlConsentStore(backend.db)


@pytest.mark.sec("SEC-41")
async def test_grant_creates_then_widens(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    assert await store.get("u1", "app") is None
    first = await store.grant("u1", "app", ("profile", "openid", "profile"), at=100.0)
    assert first == Consent("u1", "app", ("openid", "profile"), granted_at=100.0, updated_at=100.0)
    assert await store.get("u1", "app") == first
    # Nothing new: the consent is unchanged, including when it was last widened.
    assert await store.grant("u1", "app", ("openid",), at=150.0) == first
    wider = await store.grant("u1", "app", ("email", "openid"), at=200.0)
    assert wider == Consent("u1", "app", ("email", "openid", "profile"), granted_at=100.0, updated_at=200.0)
    assert await store.get("u1", "app") == wider
    assert await store.get("u2", "app") is None
    assert await store.get("u1", "other") is None


@pytest.mark.sec("SEC-41")
async def test_list_and_revoke(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    await store.grant("u1", "zeta", ("openid",), at=1.0)
    await store.grant("u1", "alpha", ("openid",), at=2.0)
    await store.grant("u2", "alpha", ("email",), at=3.0)
    assert [c.client_id for c in await store.list_for_user("u1")] == ["alpha", "zeta"]
    assert await store.list_for_user("u3") == []
    assert await store.revoke("u1", "alpha") is True
    assert await store.revoke("u1", "alpha") is False
    assert await store.get("u1", "alpha") is None
    assert [c.client_id for c in await store.list_for_user("u1")] == ["zeta"]
    assert (await store.get("u2", "alpha")).scopes == ("email",)  # another user's consent stays
    # A revoked consent starts afresh.
    again = await store.grant("u1", "alpha", ("profile",), at=9.0)
    assert again == Consent("u1", "alpha", ("profile",), granted_at=9.0, updated_at=9.0)


@pytest.mark.sec("SEC-41")
async def test_concurrent_grants_all_land_in_the_union(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    for round_, client in enumerate(("app", "tv")):
        if round_:
            await store.grant("u1", client, ("base",), at=0.5)  # second round widens an existing row
        gate = asyncio.Barrier(10)

        async def one(i: int, client: str = client, gate: asyncio.Barrier = gate) -> Consent:
            await gate.wait()
            return await store.grant("u1", client, (f"s{i}", "openid"), at=float(i + 1))

        results = await asyncio.gather(*(one(i) for i in range(10)))
        stored = await store.get("u1", client)
        expected = {f"s{i}" for i in range(10)} | {"openid"} | ({"base"} if round_ else set())
        assert set(stored.scopes) == expected
        assert list(stored.scopes) == sorted(expected)
        assert stored in results  # the last writer returned what is stored
        for i, result in enumerate(results):
            assert {f"s{i}", "openid"} <= set(result.scopes)


async def test_sql_refuses_an_unknown_user(sql_backend: Backend) -> None:
    store = make_store(sql_backend)
    with pytest.raises(NotFound):
        await store.grant("nobody", "app", ("openid",), at=1.0)
    assert await store.get("nobody", "app") is None


@pytest.mark.sec("SEC-41")
async def test_sql_consents_go_with_their_user(sql_backend: Backend) -> None:
    assert sql_backend.db is not None
    store = make_store(sql_backend)
    await store.grant("u1", "app", ("openid",), at=1.0)
    await store.grant("u2", "app", ("openid",), at=1.0)
    async with sql_backend.db.write() as conn:
        await conn.execute(delete(t.users).where(t.users.c.id == "u1"))
    assert await store.list_for_user("u1") == []
    assert await store.get("u2", "app") is not None
