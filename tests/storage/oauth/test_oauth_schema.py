"""Migration 0004 creates exactly the OAuth tables that `tables.py` declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

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


def _is_oauth(obj: Any) -> str:
    table = getattr(obj, "table", obj)
    return str(getattr(table, "name", ""))


async def test_migrated_oauth_schema_matches_tables(sql_db: Database) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, kind, reflected, compare_to: (
                    (name if kind == "table" else _is_oauth(obj)) in OAUTH_TABLES
                ),
            },
        )
        return list(compare_metadata(context, t.metadata))

    async with sql_db.read() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
    assert set(t.metadata.tables) >= OAUTH_TABLES
