"""The authorization version counter: one row, bumped in the same transaction as the change.

Caches of authorization data (the policy engine, the per-user principals) are labelled with this
version. They may re-read it only every so often (compose/authorization.py), so a bump also leaves a
process-local hint, `local_rbac_version`: the highest version this process has written to a database.
A cache whose version is below the hint re-reads at once, so a change is seen by the very next request
of the worker that made it, whatever the staleness bound for changes made by other workers.

The hint is noted before the transaction commits (there is no after-commit hook on a Core connection):
a reader may see it while the new version is not visible yet, and then keeps re-reading until it is.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.storage.sqlalchemy import tables as t

# Database (URL without password) → the highest version bumped by this process. Keyed by URL, not by
# engine object, so two `Database` objects on one database share their hints.
_local_bumps: dict[str, int] = {}
_keys: WeakKeyDictionary[AsyncEngine, str] = WeakKeyDictionary()  # read on every request: render once


def _database_key(engine: AsyncEngine) -> str:
    key = _keys.get(engine)
    if key is None:
        key = _keys[engine] = engine.url.render_as_string(hide_password=True)
    return key


async def bump_rbac_version(conn: AsyncConnection) -> int:
    """Increment the version inside the caller's transaction; return the new (uncommitted) value."""
    result = await conn.execute(
        update(t.rbac_version).where(t.rbac_version.c.id == 1).values(version=t.rbac_version.c.version + 1)
    )
    if result.rowcount == 0:
        await conn.execute(insert(t.rbac_version).values(id=1, version=1))
    version = await read_rbac_version(conn)
    key = _database_key(conn.engine)
    _local_bumps[key] = max(version, _local_bumps.get(key, 0))
    return version


async def read_rbac_version(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(t.rbac_version.c.version).where(t.rbac_version.c.id == 1))).scalar()
    return int(value or 0)


def local_rbac_version(engine: AsyncEngine) -> int:
    """The highest version this process has bumped in `engine`'s database (0 if none)."""
    return _local_bumps.get(_database_key(engine), 0)
