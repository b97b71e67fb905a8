"""SQL device-authorization store (RFC 8628 §3.2–3.5, SEC-37, SEC-75), keyed by code digests.

`decide` and `consume` are each one conditional statement (UPDATE/DELETE … WHERE status … RETURNING),
so of two concurrent decisions or redemptions exactly one matches the row. `poll` needs the value it
overwrites, so it reads under a row lock (SELECT … FOR UPDATE; BEGIN IMMEDIATE on SQLite) and
writes in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_D = t.oauth_device_codes


def _values(record: DeviceAuthorization) -> dict[str, Any]:
    return {
        "device_code_digest": record.device_code_digest,
        "user_code_digest": record.user_code_digest,
        "client_id": record.client_id,
        "scope": list(record.scope),
        "grant_id": record.grant_id,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "poll_interval": record.interval,
        "status": record.status,
        "user_id": record.user_id,
        "auth_time": record.auth_time,
        "amr": list(record.amr),
        "last_polled_at": record.last_polled_at,
        "decided_at": record.decided_at,
    }


def _record(row: RowMapping) -> DeviceAuthorization:
    return DeviceAuthorization.from_fields({**row, "interval": row["poll_interval"]})


class SqlDeviceCodeStore:
    """Implements DeviceCodeStore. Rows past `expires_at` are removed by `purge`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, record: DeviceAuthorization) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(insert(_D).values(**_values(record)))
        except IntegrityError as exc:
            raise Conflict("device or user code digest collision") from exc

    async def get_by_user_code(self, user_code_digest: str) -> DeviceAuthorization | None:
        async with self._db.read() as conn:
            row = (
                (await conn.execute(select(_D).where(_D.c.user_code_digest == user_code_digest)))
                .mappings()
                .first()
            )
        return _record(row) if row is not None else None

    async def decide(
        self,
        user_code_digest: str,
        *,
        approve: bool,
        user_id: str,
        auth_time: float,
        amr: tuple[str, ...],
        scope: tuple[str, ...],
        now: float,
    ) -> DeviceAuthorization | None:
        query = (
            update(_D)
            .where(_D.c.user_code_digest == user_code_digest, _D.c.status == "pending", _D.c.expires_at > now)
            .values(
                status="approved" if approve else "denied",
                user_id=user_id,
                auth_time=auth_time,
                amr=list(amr),
                scope=list(scope),
                decided_at=now,
            )
            .returning(*_D.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _record(row) if row is not None else None

    async def poll(
        self, device_code_digest: str, *, now: float
    ) -> tuple[DeviceAuthorization, float | None] | None:
        where = _D.c.device_code_digest == device_code_digest
        async with self._db.write() as conn:
            row = (await conn.execute(select(_D).where(where).with_for_update())).mappings().first()
            if row is None:
                return None
            await conn.execute(update(_D).where(where).values(last_polled_at=now))
        before = _record(row)
        return replace(before, last_polled_at=now), before.last_polled_at

    async def consume(self, device_code_digest: str) -> DeviceAuthorization | None:
        query = (
            delete(_D)
            .where(_D.c.device_code_digest == device_code_digest, _D.c.status == "approved")
            .returning(*_D.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _record(row) if row is not None else None

    async def purge(self, *, before: float) -> int:
        """Delete authorizations that expired before `before` (redeemed ones are already gone)."""
        return await self._db.delete_in_batches(_D, _D.c.expires_at < before)
