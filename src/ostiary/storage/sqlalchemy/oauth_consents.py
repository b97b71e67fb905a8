"""SQL consent store (OIDC Core §3.1.2.4, SEC-41): the union of approved scopes per user and client.

`grant` is insert-if-absent, then lock-read-union-write, in one write transaction. On PostgreSQL a
concurrent INSERT … ON CONFLICT DO NOTHING waits for the other transaction's row and then yields,
and SELECT … FOR UPDATE serialises the unions; SQLite's BEGIN IMMEDIATE serialises whole writers.
Either way two concurrent grants both end up in the stored union.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.errors import NotFound
from ostiary.storage.interfaces.oauth_consents import Consent
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_K = t.oauth_consents


def _consent(row: RowMapping) -> Consent:
    return Consent(
        user_id=row["user_id"],
        client_id=row["client_id"],
        scopes=tuple(row["scopes"]),
        granted_at=row["granted_at"],
        updated_at=row["updated_at"],
    )


class SqlConsentStore:
    """Implements ConsentStore. Rows go with their user (ON DELETE CASCADE)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = sqlite_insert if db.is_sqlite else pg_insert

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        query = select(_K).where(_K.c.user_id == user_id, _K.c.client_id == client_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _consent(row) if row is not None else None

    async def grant(self, user_id: str, client_id: str, scopes: tuple[str, ...], *, at: float) -> Consent:
        wanted = sorted(set(scopes))
        try:
            async with self._db.write() as conn:
                created = (
                    (
                        await conn.execute(
                            self._insert(_K)
                            .values(
                                user_id=user_id,
                                client_id=client_id,
                                scopes=wanted,
                                granted_at=at,
                                updated_at=at,
                            )
                            .on_conflict_do_nothing(index_elements=[_K.c.user_id, _K.c.client_id])
                            .returning(*_K.c)
                        )
                    )
                    .mappings()
                    .first()
                )
                if created is not None:
                    return _consent(created)
                locked = (
                    select(_K).where(_K.c.user_id == user_id, _K.c.client_id == client_id).with_for_update()
                )
                current = _consent((await conn.execute(locked)).mappings().one())
                union = tuple(sorted(set(current.scopes) | set(wanted)))
                if union == current.scopes:
                    return current
                await conn.execute(
                    update(_K)
                    .where(_K.c.user_id == user_id, _K.c.client_id == client_id)
                    .values(scopes=list(union), updated_at=at)
                )
                return Consent(user_id, client_id, union, granted_at=current.granted_at, updated_at=at)
        except IntegrityError as exc:  # the only constraint an insert can break here is the user FK
            raise NotFound("No such user.") from exc

    async def list_for_user(self, user_id: str) -> list[Consent]:
        query = select(_K).where(_K.c.user_id == user_id).order_by(_K.c.client_id)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_consent(row) for row in rows]

    async def revoke(self, user_id: str, client_id: str) -> bool:
        query = delete(_K).where(_K.c.user_id == user_id, _K.c.client_id == client_id)
        async with self._db.write() as conn:
            result = await conn.execute(query)
        return int(result.rowcount) > 0
