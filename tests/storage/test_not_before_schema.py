"""Migration 0009 on SQLite and PostgreSQL: `tokens_not_before` on users and OAuth clients, and the
client_id indexes `revoke_client` filters by, exactly as `tables.py` declares them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

TABLES = {"users", "oauth_clients", "refresh_families", "oauth_access_tokens"}


def _table_of(obj: Any) -> str:
    table = getattr(obj, "table", obj)
    return str(getattr(table, "name", ""))


async def test_migrated_schema_matches_tables(sql_db: Database) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, kind, reflected, compare_to: (
                    (name if kind == "table" else _table_of(obj)) in TABLES
                ),
            },
        )
        return list(compare_metadata(context, t.metadata))

    def inspect(sync_conn: Any) -> tuple[set[str], set[str], set[str], set[str]]:
        insp = sa.inspect(sync_conn)
        return (
            {c["name"] for c in insp.get_columns("users")},
            {c["name"] for c in insp.get_columns("oauth_clients")},
            {i["name"] for i in insp.get_indexes("refresh_families")},
            {i["name"] for i in insp.get_indexes("oauth_access_tokens")},
        )

    async with sql_db.read() as conn:
        assert await conn.run_sync(diff) == []
        users, clients, families, opaque = await conn.run_sync(inspect)
    assert "tokens_not_before" in users and "tokens_not_before" in clients
    assert "ix_refresh_families_client_id" in families
    assert "ix_oauth_access_tokens_client_id" in opaque
