"""Bulk deletes run in batches, each its own transaction (Database.delete_in_batches), on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from helpers import add_user_rows
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily, RefreshTokenRecord
from ostiary.storage.sqlalchemy import database as database_module
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore

NOW = 1_800_000_000.0


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of 3; records how many write transactions are opened."""
    monkeypatch.setattr(database_module, "PURGE_BATCH", 3)
    opened: list[int] = []
    original = Database.write

    def counting(self: Database) -> Any:
        opened.append(1)
        return original(self)

    monkeypatch.setattr(Database, "write", counting)
    return opened


async def test_a_backlog_is_deleted_in_batches_and_live_rows_stay(
    sql_db: Database, small_batches: list[int]
) -> None:
    grants = t.oauth_revoked_grants
    rows = [{"grant_id": f"old-{i}", "revoked_at": NOW - 99, "remember_until": NOW - i} for i in range(1, 11)]
    rows += [{"grant_id": f"new-{i}", "revoked_at": NOW - 99, "remember_until": NOW + 60} for i in range(2)]
    async with sql_db.write() as conn:
        await conn.execute(insert(grants), rows)
    small_batches.clear()
    assert await sql_db.delete_in_batches(grants, grants.c.remember_until < NOW) == 10
    assert len(small_batches) == 4  # 3 + 3 + 3 + 1: the short batch ends it
    async with sql_db.read() as conn:
        left = (await conn.execute(select(grants.c.grant_id).order_by(grants.c.grant_id))).scalars().all()
    assert left == ["new-0", "new-1"]
    small_batches.clear()
    assert await sql_db.delete_in_batches(grants, grants.c.remember_until < NOW) == 0
    assert len(small_batches) == 1


async def test_refresh_families_are_purged_in_batches_with_their_tokens(
    sql_db: Database, small_batches: list[int]
) -> None:
    await add_user_rows(sql_db, "u1")
    store = SqlRefreshTokenStore(sql_db)
    for i in range(7):
        ended = i < 5
        expires_at = NOW - 1 if ended else NOW + 100
        family = RefreshFamily(
            id=f"f{i}",
            user_id="u1",
            client_id="ostiary",
            device="bench",
            scope="",
            auth_time=NOW - 100,
            created_at=NOW - 100,
            last_used_at=NOW - 100,
            expires_at=expires_at,
            access_expires_at=NOW - 100,
        )
        token = RefreshTokenRecord(
            digest=f"{i:064x}",
            family_id=f"f{i}",
            state="active",
            created_at=NOW - 100,
            expires_at=family.expires_at,
        )
        await store.create_family(family, token)
    small_batches.clear()
    assert await store.purge(before=NOW) == 5
    assert len(small_batches) == 2  # 3 + 2
    assert await store.get(f"{0:064x}") is None
    assert await store.get(f"{6:064x}") is not None
