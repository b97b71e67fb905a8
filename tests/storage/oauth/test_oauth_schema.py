"""Migration 0004 creates exactly the OAuth tables that `tables.py` declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from helpers import schema_differences
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

OAUTH_TABLES = {
    "oauth_clients",
    "oauth_codes",
    "oauth_redeemed_codes",
    "oauth_consents",
    "oauth_device_codes",
    "oauth_revoked_grants",
    "oauth_access_tokens",
}


async def test_migrated_oauth_schema_matches_tables(sql_db: Database) -> None:
    assert await schema_differences(sql_db, OAUTH_TABLES) == []
    assert set(t.metadata.tables) >= OAUTH_TABLES
