"""SQL refresh-token store: families and tokens, rotation as one conditional UPDATE (SEC-74, SEC-80).

Lock order is always family row, then token rows, in `rotate` and in the revocations, so a refresh
racing a revocation on PostgreSQL serialises on the family row instead of deadlocking, and a
revocation that commits first makes the racing rotation fail (its family UPDATE matches no row).
SQLite runs every write transaction as BEGIN IMMEDIATE, which serialises writers anyway.

The statements of a refresh (`get`, `rotate`) are built once, with bound parameters: building a
SQLAlchemy statement and computing its cache key on every call cost more than running it (~40% of
a refresh's time in py-spy).
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily, RefreshTokenRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_F = t.refresh_families
_T = t.refresh_tokens


class _Abort(Exception):
    """Roll the rotation back: the token was not active (or its family is gone)."""


def _family(row: RowMapping) -> RefreshFamily:
    return RefreshFamily(
        id=row["id"],
        user_id=row["user_id"],
        client_id=row["client_id"],
        device=row["device"],
        scope=row["scope"],
        auth_time=row["auth_time"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        access_expires_at=row["access_expires_at"],
        revoked_at=row["revoked_at"],
        revoke_reason=row["revoke_reason"],
    )


def _token(row: RowMapping) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        digest=row["digest"],
        family_id=row["family_id"],
        state=row["state"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        rotated_at=row["rotated_at"],
        parent_digest=row["parent_digest"],
        successor_digest=row["successor_digest"],
        replay=bytes(row["replay"]) if row["replay"] is not None else None,
    )


def _token_values(token: RefreshTokenRecord) -> dict[str, object]:
    return {
        "digest": token.digest,
        "family_id": token.family_id,
        "state": token.state,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "rotated_at": token.rotated_at,
        "parent_digest": token.parent_digest,
        "successor_digest": token.successor_digest,
        "replay": None,
    }


_TOKEN_COLUMNS = [c.label(c.name) for c in _T.c]
_FAMILY_COLUMNS = [c.label(f"f_{c.name}") for c in _F.c]
_GET = select(*_TOKEN_COLUMNS, *_FAMILY_COLUMNS).join(_F, _F.c.id == _T.c.family_id)
_GET_BY_DIGEST = _GET.where(_T.c.digest == bindparam("b_digest"))
# `rotate`, step by step (parameters prefixed b_: SQLAlchemy reserves column names in SET clauses).
_TOUCH_FAMILY = (
    update(_F)
    .where(
        _F.c.id == select(_T.c.family_id).where(_T.c.digest == bindparam("b_digest")).scalar_subquery(),
        _F.c.revoked_at.is_(None),
    )
    .values(last_used_at=bindparam("b_at"), access_expires_at=bindparam("b_access_expires_at"))
)
_MOVE_OUT_OF_ACTIVE = (
    update(_T)
    .where(_T.c.digest == bindparam("b_digest"), _T.c.state == "active")
    .values(
        state="rotated",
        rotated_at=bindparam("b_at"),
        successor_digest=bindparam("b_successor"),
        replay=bindparam("b_replay", type_=_T.c.replay.type),
    )
    .returning(_T.c.parent_digest)
)
_FORGET_REPLAY = update(_T).where(_T.c.digest == bindparam("b_parent")).values(replay=None)
_INSERT_TOKEN = insert(_T)


class SqlRefreshTokenStore:
    """Implements RefreshTokenStore and RefreshFamilyIndex."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_family(self, family: RefreshFamily, first: RefreshTokenRecord) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(_F).values(
                        id=family.id,
                        user_id=family.user_id,
                        client_id=family.client_id,
                        device=family.device[:256],
                        scope=family.scope,
                        auth_time=family.auth_time,
                        created_at=family.created_at,
                        last_used_at=family.last_used_at,
                        expires_at=family.expires_at,
                        access_expires_at=family.access_expires_at,
                        revoked_at=family.revoked_at,
                        revoke_reason=family.revoke_reason,
                    )
                )
                await conn.execute(_INSERT_TOKEN, _token_values(first))
        except IntegrityError as exc:
            raise Conflict("The refresh-token family already exists.") from exc

    async def get(self, digest: str) -> tuple[RefreshTokenRecord, RefreshFamily] | None:
        row = await self._db.fetch_first(_GET_BY_DIGEST, {"b_digest": digest})
        if row is None:
            return None
        family = {key[2:]: value for key, value in row.items() if key.startswith("f_")}
        return _token(row), _family(family)  # type: ignore[arg-type]

    async def rotate(
        self, digest: str, successor: RefreshTokenRecord, *, at: float, access_expires_at: float
    ) -> bool:
        # On SQLite this process's writers already queue in Database.write; correctness does not
        # depend on that either: the conditional UPDATE below decides.
        try:
            async with self._db.write() as conn:
                # 1. The family row first: takes its lock and fails when it has been revoked.
                touched = await conn.execute(
                    _TOUCH_FAMILY,
                    {"b_digest": digest, "b_at": at, "b_access_expires_at": access_expires_at},
                )
                if touched.rowcount != 1:
                    raise _Abort
                # 2. The compare-and-set: only one caller can move the token out of `active`.
                moved = {"b_digest": digest, "b_at": at, "b_successor": successor.digest}
                won = (
                    await conn.execute(_MOVE_OUT_OF_ACTIVE, {**moved, "b_replay": successor.replay})
                ).first()
                if won is None:
                    raise _Abort
                # 3. Only the newest rotation may be replayed (django-oauth-toolkit#1617).
                if won.parent_digest is not None:
                    await conn.execute(_FORGET_REPLAY, {"b_parent": won.parent_digest})
                await conn.execute(_INSERT_TOKEN, _token_values(successor))
        except _Abort:
            return False
        return True

    async def revoke_family(
        self, family_id: str, *, at: float, reason: str, user_id: str | None = None
    ) -> bool:
        query = update(_F).where(_F.c.id == family_id, _F.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(_F.c.user_id == user_id)
        async with self._db.write() as conn:
            result = await conn.execute(query.values(revoked_at=at, revoke_reason=reason[:40]))
            if result.rowcount != 1:
                return False
            await conn.execute(
                update(_T).where(_T.c.family_id == family_id).values(state="revoked", replay=None)
            )
        return True

    async def revoke_user(self, user_id: str, *, at: float, reason: str) -> int:
        live = and_(_F.c.user_id == user_id, _F.c.revoked_at.is_(None))
        async with self._db.write() as conn:
            ids = list(
                (
                    await conn.execute(
                        update(_F)
                        .where(live)
                        .values(revoked_at=at, revoke_reason=reason[:40])
                        .returning(_F.c.id)
                    )
                ).scalars()
            )
            if ids:
                await conn.execute(
                    update(_T).where(_T.c.family_id.in_(ids)).values(state="revoked", replay=None)
                )
        return len(ids)

    async def revoke_client(self, client_id: str, *, at: float, reason: str) -> int:
        # Rare (an administrator disables a client), so one statement per table rather than ids
        # carried across: the token UPDATE catches up every revoked family of the client.
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_F)
                .where(_F.c.client_id == client_id, _F.c.revoked_at.is_(None))
                .values(revoked_at=at, revoke_reason=reason[:40])
            )
            revoked_families = select(_F.c.id).where(
                _F.c.client_id == client_id, _F.c.revoked_at.is_not(None)
            )
            await conn.execute(
                update(_T)
                .where(_T.c.family_id.in_(revoked_families), _T.c.state != "revoked")
                .values(state="revoked", replay=None)
            )
        return int(result.rowcount)

    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        query = (
            select(_F)
            .where(_F.c.user_id == user_id, _F.c.revoked_at.is_(None), _F.c.expires_at > now)
            .order_by(_F.c.created_at, _F.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_family(row) for row in rows]

    async def purge(self, *, before: float) -> int:
        ended = or_(_F.c.revoked_at < before, _F.c.expires_at < before)
        # A family's tokens go with it (ON DELETE CASCADE; SQLite connections turn foreign keys on).
        return await self._db.delete_in_batches(_F, ended)
