"""Storage fixtures: a migrated SQL database per backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from helpers import migrated_db
from ostiary.storage.sqlalchemy.database import Database


@pytest.fixture
async def sql_db(database_url: str) -> AsyncIterator[Database]:
    db = await migrated_db(database_url)
    try:
        yield db
    finally:
        await db.dispose()
