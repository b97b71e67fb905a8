"""The authorization version counter: one row, bumped in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.sqlalchemy import tables as t


async def bump_rbac_version(conn: AsyncConnection) -> None:
    result = await conn.execute(
        update(t.rbac_version).where(t.rbac_version.c.id == 1).values(version=t.rbac_version.c.version + 1)
    )
    if result.rowcount == 0:
        await conn.execute(insert(t.rbac_version).values(id=1, version=1))


async def read_rbac_version(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(t.rbac_version.c.version).where(t.rbac_version.c.id == 1))).scalar()
    return int(value or 0)
