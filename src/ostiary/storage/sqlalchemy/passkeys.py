"""SQL stores for passkeys and their ceremony challenges (storage/interfaces/passkeys.py, SEC-51).

Each single use is one conditional statement whose row count decides: `INSERT … ON CONFLICT DO
NOTHING` on the unique credential key, `UPDATE … WHERE sign_count < :new` for the counter, `DELETE …
RETURNING` for a challenge. `users.mfa_enabled` changes in the same transaction as the factor that
causes it, as for TOTP (storage/sqlalchemy/mfa.py): on with the first passkey, off with the last
second factor. PostgreSQL serialises those flips on the user's row lock; SQLite runs one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.interfaces.passkeys import AddOutcome, PasskeyChallenge, PasskeyRecord, RemoveOutcome
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version

_KEYS = t.passkeys
_CHALLENGES = t.passkey_challenges


def _record(row: RowMapping) -> PasskeyRecord:
    return PasskeyRecord(
        id=row["id"],
        user_id=row["user_id"],
        credential_key=row["credential_key"],
        credential_id=bytes(row["credential_id"]),
        public_key=bytes(row["public_key"]),
        sign_count=int(row["sign_count"]),
        user_handle=bytes(row["user_handle"]),
        name=row["name"],
        discoverable=bool(row["discoverable"]),
        transports=tuple(x for x in row["transports"].split(" ") if x),
        aaguid=row["aaguid"],
        backed_up=bool(row["backed_up"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


def _challenge(row: RowMapping) -> PasskeyChallenge:
    return PasskeyChallenge(
        digest=row["digest"],
        purpose=row["purpose"],
        user_id=row["user_id"],
        binding=row["binding"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


async def _lock_user(conn: AsyncConnection, user_id: str) -> None:
    """PostgreSQL: take the user's row lock, so that two removals of a user's last two factors see
    each other (SQLite has one writer at a time and renders no FOR UPDATE)."""
    await conn.execute(select(t.users.c.id).where(t.users.c.id == user_id).with_for_update())


class SqlPasskeyStore:
    """Implements PasskeyStore and PasskeyEditStore."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert: Any = sqlite.insert if db.is_sqlite else postgresql.insert

    async def add(self, record: PasskeyRecord, *, recovery_digests: Sequence[str]) -> AddOutcome:
        values = {
            "id": record.id,
            "user_id": record.user_id,
            "credential_key": record.credential_key,
            "credential_id": record.credential_id,
            "public_key": record.public_key,
            "sign_count": record.sign_count,
            "user_handle": record.user_handle,
            "name": record.name,
            "discoverable": record.discoverable,
            "transports": " ".join(record.transports),
            "aaguid": record.aaguid,
            "backed_up": record.backed_up,
            "created_at": record.created_at,
            "last_used_at": record.last_used_at,
        }
        stmt = (
            self._insert(_KEYS)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[_KEYS.c.credential_key])
            .returning(_KEYS.c.id)
        )
        async with self._db.write() as conn:
            if (await conn.execute(stmt)).first() is None:
                return AddOutcome.DUPLICATE
            flag = await conn.execute(
                update(t.users)
                .where(t.users.c.id == record.user_id, t.users.c.mfa_enabled.is_(False))
                .values(mfa_enabled=True, updated_at=record.created_at)
            )
            if flag.rowcount != 1:
                return AddOutcome.ADDED
            # The first second factor: fresh recovery codes come with it, as with TOTP.
            await conn.execute(
                delete(t.mfa_recovery_codes).where(t.mfa_recovery_codes.c.user_id == record.user_id)
            )
            if recovery_digests:
                rows = [
                    {"user_id": record.user_id, "digest": d, "created_at": record.created_at}
                    for d in recovery_digests
                ]
                await conn.execute(insert(t.mfa_recovery_codes), rows)
            await bump_rbac_version(conn)  # cached principals carry the user record (mfa_enabled)
        return AddOutcome.ADDED_FIRST_FACTOR

    async def get(self, credential_key: str) -> PasskeyRecord | None:
        async with self._db.read() as conn:
            row = (
                (await conn.execute(select(_KEYS).where(_KEYS.c.credential_key == credential_key)))
                .mappings()
                .first()
            )
        return _record(row) if row else None

    async def list_user(self, user_id: str) -> list[PasskeyRecord]:
        query = select(_KEYS).where(_KEYS.c.user_id == user_id).order_by(_KEYS.c.created_at, _KEYS.c.id)
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).mappings().all()]

    async def record_use(self, credential_key: str, sign_count: int, *, backed_up: bool, now: float) -> bool:
        # A counter must grow; authenticators without one (synced passkeys) always send 0.
        grows = _KEYS.c.sign_count == 0 if sign_count == 0 else _KEYS.c.sign_count < sign_count
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_KEYS)
                .where(_KEYS.c.credential_key == credential_key, grows)
                .values(sign_count=sign_count, backed_up=backed_up, last_used_at=now)
            )
        return result.rowcount == 1

    async def rename(self, user_id: str, passkey_id: str, name: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_KEYS).where(_KEYS.c.user_id == user_id, _KEYS.c.id == passkey_id).values(name=name)
            )
        return result.rowcount == 1

    async def remove(self, user_id: str, passkey_id: str) -> RemoveOutcome:
        async with self._db.write() as conn:
            await _lock_user(conn, user_id)
            removed = await conn.execute(
                delete(_KEYS).where(_KEYS.c.user_id == user_id, _KEYS.c.id == passkey_id)
            )
            if removed.rowcount != 1:
                return RemoveOutcome(removed=False)
            if await self._has_second_factor(conn, user_id):
                return RemoveOutcome(removed=True)
            await conn.execute(delete(t.mfa_recovery_codes).where(t.mfa_recovery_codes.c.user_id == user_id))
            await conn.execute(delete(t.mfa_challenges).where(t.mfa_challenges.c.user_id == user_id))
            flag = await conn.execute(
                update(t.users)
                .where(t.users.c.id == user_id, t.users.c.mfa_enabled.is_(True))
                .values(mfa_enabled=False)
            )
            if flag.rowcount:
                await bump_rbac_version(conn)
        return RemoveOutcome(removed=True, mfa_turned_off=bool(flag.rowcount))

    @staticmethod
    async def _has_second_factor(conn: AsyncConnection, user_id: str) -> bool:
        passkey = exists().where(_KEYS.c.user_id == user_id)
        totp = exists().where(t.mfa_totp.c.user_id == user_id, t.mfa_totp.c.active.is_(True))
        return bool((await conn.execute(select(passkey | totp))).scalar_one())


class SqlPasskeyChallengeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, challenge: PasskeyChallenge) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(_CHALLENGES).values(
                    digest=challenge.digest,
                    purpose=challenge.purpose,
                    user_id=challenge.user_id,
                    binding=challenge.binding,
                    created_at=challenge.created_at,
                    expires_at=challenge.expires_at,
                )
            )

    async def consume(self, digest: str, *, now: float) -> PasskeyChallenge | None:
        row = await self._db.take(_CHALLENGES, _CHALLENGES.c.digest == digest, _CHALLENGES.c.expires_at > now)
        return _challenge(row) if row else None

    async def purge_expired(self, *, now: float) -> int:
        return await self._db.delete_in_batches(_CHALLENGES, _CHALLENGES.c.expires_at <= now)
