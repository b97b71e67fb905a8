"""SQL session store: rows keyed by the SHA-256 digest of the session id."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database


def _record(row: RowMapping) -> SessionRecord:
    return SessionRecord(
        digest=row["digest"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        auth_time=row["auth_time"],
        csrf_secret=row["csrf_secret"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        amr=tuple(a for a in row["amr"].split(" ") if a),
    )


_GET = select(t.sessions).where(t.sessions.c.digest == bindparam("digest"))


class SqlSessionStore:
    """Implements SessionStore and UserSessionIndex."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: SessionRecord, *, idle_seconds: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(t.sessions).values(
                    digest=record.digest,
                    user_id=record.user_id,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    idle_expires_at=min(record.last_seen_at + idle_seconds, record.expires_at),
                    expires_at=record.expires_at,
                    auth_time=record.auth_time,
                    csrf_secret=record.csrf_secret,
                    ip=record.ip,
                    user_agent=record.user_agent[:256],
                    amr=" ".join(record.amr),
                )
            )

    async def get(self, digest: str) -> SessionRecord | None:
        # Every request with a session cookie: one statement, built once (database.py, fetch_first).
        row = await self._db.fetch_first(_GET, {"digest": digest})
        return _record(row) if row else None

    async def touch(self, digest: str, *, last_seen_at: float, idle_seconds: int, ip: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(t.sessions)
                .where(t.sessions.c.digest == digest)
                .values(last_seen_at=last_seen_at, idle_expires_at=last_seen_at + idle_seconds, ip=ip)
            )

    async def delete(self, digest: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(t.sessions).where(t.sessions.c.digest == digest))
        return result.rowcount > 0

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        query = select(t.sessions).where(t.sessions.c.user_id == user_id).order_by(t.sessions.c.created_at)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        query = delete(t.sessions).where(t.sessions.c.user_id == user_id)
        if keep is not None:
            query = query.where(t.sessions.c.digest != keep)
        async with self._db.write() as conn:
            result = await conn.execute(query)
        return int(result.rowcount)
