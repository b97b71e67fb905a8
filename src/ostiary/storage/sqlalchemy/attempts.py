"""Failed-login counters: one atomic upsert per failure, exact under concurrency (SEC-76)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ostiary.storage.interfaces.attempts import AttemptState
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database


class SqlAttemptStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert: Any = sqlite.insert if db.is_sqlite else postgresql.insert

    async def get(self, key: str) -> AttemptState | None:
        query = select(t.login_attempts).where(t.login_attempts.c.key == key)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return AttemptState(row["failures"], row["last_failure_at"]) if row else None

    async def record_failure(self, key: str, *, now: float) -> AttemptState:
        stmt = self._insert(t.login_attempts).values(key=key, failures=1, last_failure_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.login_attempts.c.key],
            set_={"failures": t.login_attempts.c.failures + 1, "last_failure_at": now},
        ).returning(t.login_attempts.c.failures, t.login_attempts.c.last_failure_at)
        async with self._db.write() as conn:
            row = (await conn.execute(stmt)).one()
        return AttemptState(int(row[0]), float(row[1]))

    async def reset(self, key: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(t.login_attempts).where(t.login_attempts.c.key == key))
