"""SQL store of the devices a user logged in from (storage/interfaces/known_devices.py).

`INSERT … ON CONFLICT DO NOTHING RETURNING` decides which of concurrent first sightings is new: the
losers find the row already there (PostgreSQL waits for the winner's commit; SQLite has one writer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ostiary.storage.interfaces.known_devices import DeviceSighting
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_DEVICES = t.known_devices


class SqlKnownDeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert: Any = sqlite.insert if db.is_sqlite else postgresql.insert

    async def remember(self, user_id: str, fingerprint: str, *, now: float, keep: int) -> DeviceSighting:
        mine = _DEVICES.c.user_id == user_id
        this = _DEVICES.c.fingerprint == fingerprint
        stmt = (
            self._insert(_DEVICES)
            .values(user_id=user_id, fingerprint=fingerprint, first_seen_at=now, last_seen_at=now)
            .on_conflict_do_nothing(index_elements=[_DEVICES.c.user_id, _DEVICES.c.fingerprint])
            .returning(_DEVICES.c.fingerprint)
        )
        async with self._db.write() as conn:
            new = (await conn.execute(stmt)).first() is not None
            if not new:
                await conn.execute(update(_DEVICES).where(mine, this).values(last_seen_at=now))
            others = (
                select(func.count()).select_from(_DEVICES).where(mine, _DEVICES.c.fingerprint != fingerprint)
            )
            known_before = int((await conn.execute(others)).scalar_one())
            if new and known_before >= keep:
                newest = (
                    select(_DEVICES.c.fingerprint)
                    .where(mine)
                    .order_by(_DEVICES.c.last_seen_at.desc(), _DEVICES.c.fingerprint)
                    .limit(keep)
                )
                await conn.execute(delete(_DEVICES).where(mine, _DEVICES.c.fingerprint.not_in(newest)))
        return DeviceSighting(new=new, known_before=known_before)

    async def forget_user(self, user_id: str) -> int:
        async with self._db.write() as conn:
            return int((await conn.execute(delete(_DEVICES).where(_DEVICES.c.user_id == user_id))).rowcount)
