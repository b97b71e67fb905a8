"""SQL store of API keys (storage/interfaces/api_keys.py).

Every lifecycle change is one conditional statement whose row count decides: a revocation updates
only a live key, a rotation only a live key nobody replaced yet, so of concurrent callers exactly
one wins (PostgreSQL re-checks the condition after the row lock; SQLite runs one `BEGIN IMMEDIATE`
writer at a time). Revocations and rotations bump the authorization version in the same
transaction: caches labelled with it (authn/api_keys_auth.py) then drop the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from ostiary.storage.interfaces.api_keys import ApiKeyRecord, CreateOutcome, RotateOutcome
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version

_KEYS = t.api_keys


def _record(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        kind=row["kind"],
        user_id=row["user_id"],
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        prefix=row["prefix"],
        digest=row["digest"],
        last_used_at=row["last_used_at"],
        last_used_ip=row["last_used_ip"],
        revoked_at=row["revoked_at"],
        revoke_reason=row["revoke_reason"],
        rotated_from=row["rotated_from"],
        replaced_by=row["replaced_by"],
    )


def _values(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "user_id": record.user_id,
        "name": record.name,
        "scopes": sorted(record.scopes),
        "prefix": record.prefix,
        "digest": record.digest,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "last_used_at": record.last_used_at,
        "last_used_ip": record.last_used_ip,
        "revoked_at": record.revoked_at,
        "revoke_reason": record.revoke_reason,
        "rotated_from": record.rotated_from,
        "replaced_by": record.replaced_by,
    }


def _live(now: float) -> ColumnElement[bool]:
    return and_(_KEYS.c.expires_at > now, or_(_KEYS.c.revoked_at.is_(None), _KEYS.c.revoked_at > now))


async def _prefix_taken(conn: AsyncConnection, prefix: str | None) -> bool:
    if prefix is None:
        return False
    found = await conn.execute(select(_KEYS.c.id).where(_KEYS.c.prefix == prefix))
    return found.first() is not None


class SqlApiKeyStore:
    """Implements both `ApiKeyStore` and `ApiKeyLookup`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: ApiKeyRecord, *, max_live: int | None = None) -> CreateOutcome:
        try:
            async with self._db.write() as conn:
                if max_live is not None:
                    # The owner's row lock serialises concurrent creations (SQLite: BEGIN IMMEDIATE).
                    lock = select(t.users.c.id).where(t.users.c.id == record.user_id).with_for_update()
                    await conn.execute(lock)
                    count = (
                        select(func.count())
                        .select_from(_KEYS)
                        .where(_KEYS.c.user_id == record.user_id, _live(record.created_at))
                    )
                    if int((await conn.execute(count)).scalar_one()) >= max_live:
                        return "limit_reached"
                if await _prefix_taken(conn, record.prefix):
                    return "prefix_taken"
                await conn.execute(insert(_KEYS).values(**_values(record)))
        except IntegrityError:
            # A concurrent insert took the prefix between the check and the insert.
            async with self._db.read() as conn:
                if await _prefix_taken(conn, record.prefix):
                    return "prefix_taken"
            raise
        return "created"

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(_KEYS).where(_KEYS.c.id == key_id))).mappings().first()
        return _record(row) if row else None

    async def list_user(self, user_id: str) -> list[ApiKeyRecord]:
        query = (
            select(_KEYS).where(_KEYS.c.user_id == user_id).order_by(_KEYS.c.created_at.desc(), _KEYS.c.id)
        )
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).mappings().all()]

    async def revoke(self, key_id: str, *, now: float, reason: str) -> ApiKeyRecord | None:
        stmt = (
            update(_KEYS)
            .where(_KEYS.c.id == key_id, _live(now))
            .values(revoked_at=now, revoke_reason=reason)
            .returning(*_KEYS.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            if row is None:
                return None
            await bump_rbac_version(conn)
        return _record(row)

    async def rotate(self, old_id: str, new: ApiKeyRecord, *, now: float, grace: float) -> RotateOutcome:
        try:
            async with self._db.write() as conn:
                if await _prefix_taken(conn, new.prefix):
                    return "prefix_taken"
                replaced = await conn.execute(
                    update(_KEYS)
                    .where(_KEYS.c.id == old_id, _KEYS.c.replaced_by.is_(None), _live(now))
                    .values(replaced_by=new.id, revoked_at=now + grace, revoke_reason="rotated")
                )
                if replaced.rowcount != 1:
                    return "not_live"
                await conn.execute(insert(_KEYS).values(**_values(new)))
                await bump_rbac_version(conn)
        except IntegrityError:
            async with self._db.read() as conn:
                if await _prefix_taken(conn, new.prefix):
                    return "prefix_taken"
            raise
        return "rotated"

    async def find_by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(_KEYS).where(_KEYS.c.prefix == prefix))).mappings().first()
        return _record(row) if row else None

    async def touch(self, key_id: str, *, now: float, ip: str | None, min_interval: float) -> bool:
        stmt = (
            update(_KEYS)
            .where(
                _KEYS.c.id == key_id,
                or_(_KEYS.c.last_used_at.is_(None), _KEYS.c.last_used_at <= now - min_interval),
            )
            .values(last_used_at=now, last_used_ip=ip[:45] if ip else None)
        )
        async with self._db.write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def revoked_stateless(self, *, now: float) -> Mapping[str, float]:
        query = select(_KEYS.c.id, _KEYS.c.revoked_at).where(
            _KEYS.c.kind == "stateless", _KEYS.c.revoked_at.is_not(None), _KEYS.c.expires_at > now
        )
        async with self._db.read() as conn:
            return {row.id: float(row.revoked_at) for row in (await conn.execute(query)).all()}
