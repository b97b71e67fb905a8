"""Fixtures of the API-key unit and storage tests: a migrated SQL database per backend, and wired
services on a frozen clock (builders in api_keys_unit_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_keys_unit_support import Keys

from helpers import add_user, add_user_rows, make_app, migrated_db
from ostiary.core.clock import FrozenClock
from ostiary.storage.sqlalchemy.database import Database


@pytest.fixture
async def sql_db(database_url: str) -> AsyncIterator[Database]:
    """SQLite and PostgreSQL (the `database_url` parameters), with users u1 and u2."""
    db = await migrated_db(database_url)
    await add_user_rows(db, "u1", "u2")
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def keys(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Keys]:
    """Wired services on SQLite and a frozen clock; alice holds docs:read and users:manage."""
    async with make_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'k.db'}", clock=clock) as h:
        alice = await add_user(h.services, "alice", roles=["viewer", "admin"])
        bob = await add_user(h.services, "bob", roles=["viewer"])
        yield Keys(h, clock, alice, bob)
