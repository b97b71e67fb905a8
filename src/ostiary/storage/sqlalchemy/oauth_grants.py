"""SQL revoked grants and opaque access tokens (RFC 7009 §2.1, RFC 7662 §2.2; SEC-29).

A revocation is one upsert that never shortens what an earlier revocation promised to remember,
so concurrent revocations of one grant are harmless. An opaque token keeps its row when revoked
(`revoked_at`), and revoking a grant is one UPDATE over the `grant_id` index.
"""

from __future__ import annotations

from sqlalchemy import case, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken, RevokedGrant
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_G = t.oauth_revoked_grants
_A = t.oauth_access_tokens


class SqlRevokedGrantStore:
    """Implements RevokedGrantFeed. Revocations past `remember_until` are removed by `purge`.

    A repeated revocation moves `revoked_at` forward to the latest one, so a process following the
    feed by `revoked_at` (compose/revoked_grant_cache.py) also learns of a longer `remember_until`."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._insert = sqlite_insert if db.is_sqlite else pg_insert

    async def revoke(self, grant_id: str, *, at: float, remember_until: float) -> None:
        upsert = self._insert(_G).values(grant_id=grant_id, revoked_at=at, remember_until=remember_until)
        longer = case(
            (_G.c.remember_until < upsert.excluded.remember_until, upsert.excluded.remember_until),
            else_=_G.c.remember_until,
        )
        later = case(
            (_G.c.revoked_at < upsert.excluded.revoked_at, upsert.excluded.revoked_at),
            else_=_G.c.revoked_at,
        )
        changes = {"remember_until": longer, "revoked_at": later}
        async with self._db.write() as conn:
            await conn.execute(upsert.on_conflict_do_update(index_elements=[_G.c.grant_id], set_=changes))

    async def is_revoked(self, grant_id: str) -> bool:
        query = select(_G.c.grant_id).where(
            _G.c.grant_id == grant_id, _G.c.remember_until > self._clock.now()
        )
        async with self._db.read() as conn:
            return (await conn.execute(query)).first() is not None

    async def revoked_since(self, since: float) -> list[RevokedGrant]:
        query = select(_G.c.grant_id, _G.c.revoked_at, _G.c.remember_until).where(
            _G.c.remember_until > self._clock.now(), _G.c.revoked_at >= since
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [RevokedGrant(grant_id, revoked_at, until) for grant_id, revoked_at, until in rows]

    async def purge(self, *, before: float) -> int:
        """Forget revocations whose `remember_until` is before `before`."""
        return await self._db.delete_in_batches(_G, _G.c.remember_until < before)


def _token(row: RowMapping) -> OpaqueAccessToken:
    return OpaqueAccessToken(
        digest=row["digest"],
        client_id=row["client_id"],
        subject=row["subject"],
        scope=tuple(row["scope"]),
        grant_id=row["grant_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        user_id=row["user_id"],
        auth_time=row["auth_time"],
        sid=row["sid"],
    )


class SqlOpaqueTokenStore:
    """Implements OpaqueTokenStore. Rows past `expires_at` are removed by `purge`."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def save(self, token: OpaqueAccessToken) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(_A).values(
                        digest=token.digest,
                        client_id=token.client_id,
                        subject=token.subject,
                        scope=list(token.scope),
                        grant_id=token.grant_id,
                        issued_at=token.issued_at,
                        expires_at=token.expires_at,
                        user_id=token.user_id,
                        auth_time=token.auth_time,
                        sid=token.sid,
                    )
                )
        except IntegrityError as exc:
            raise Conflict("opaque access-token digest collision") from exc

    async def get(self, digest: str) -> OpaqueAccessToken | None:
        query = select(_A).where(_A.c.digest == digest, _A.c.revoked_at.is_(None))
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _token(row) if row is not None else None

    async def revoke(self, digest: str) -> bool:
        query = (
            update(_A)
            .where(_A.c.digest == digest, _A.c.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
        )
        async with self._db.write() as conn:
            result = await conn.execute(query)
        return int(result.rowcount) == 1

    async def revoke_grant(self, grant_id: str) -> int:
        query = (
            update(_A)
            .where(_A.c.grant_id == grant_id, _A.c.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
        )
        async with self._db.write() as conn:
            result = await conn.execute(query)
        return int(result.rowcount)

    async def revoke_client(self, client_id: str) -> int:
        # Runs when a client is disabled; `ix_oauth_access_tokens_client_id` finds its rows.
        query = (
            update(_A)
            .where(_A.c.client_id == client_id, _A.c.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
        )
        async with self._db.write() as conn:
            result = await conn.execute(query)
        return int(result.rowcount)

    async def purge(self, *, before: float) -> int:
        """Delete tokens (revoked or not) that expired before `before`."""
        return await self._db.delete_in_batches(_A, _A.c.expires_at < before)
