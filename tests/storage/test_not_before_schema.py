"""Migration 0009 on SQLite and PostgreSQL: `tokens_not_before` on users and OAuth clients, and the
client_id indexes `revoke_client` filters by, exactly as `tables.py` declares them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpers import schema_differences
from ostiary.storage.sqlalchemy.database import Database

TABLES = {"users", "oauth_clients", "refresh_families", "oauth_access_tokens"}


async def test_migrated_schema_matches_tables(sql_db: Database) -> None:
    def inspect(sync_conn: Any) -> tuple[set[str], set[str], set[str], set[str]]:
        insp = sa.inspect(sync_conn)
        return (
            {c["name"] for c in insp.get_columns("users")},
            {c["name"] for c in insp.get_columns("oauth_clients")},
            {i["name"] for i in insp.get_indexes("refresh_families")},
            {i["name"] for i in insp.get_indexes("oauth_access_tokens")},
        )

    assert await schema_differences(sql_db, TABLES) == []
    async with sql_db.read() as conn:
        users, clients, families, opaque = await conn.run_sync(inspect)
    assert "tokens_not_before" in users and "tokens_not_before" in clients
    assert "ix_refresh_families_client_id" in families
    assert "ix_oauth_access_tokens_client_id" in opaque
