"""SQL stores for TOTP credentials, recovery codes and MFA challenges (storage/interfaces/mfa.py).

Each single use is one conditional statement whose row count decides the winner: `UPDATE … WHERE
last_used_step < :step` for a TOTP step, `DELETE … WHERE digest = :d` for a recovery code, `DELETE …
RETURNING` for a challenge. PostgreSQL serialises the competing writers on the row lock and
re-checks the condition; SQLite runs one `BEGIN IMMEDIATE` writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.interfaces.mfa import NO_STEP, MfaChallenge, TotpCredential
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version

_TOTP = t.mfa_totp
_CODES = t.mfa_recovery_codes
_CHALLENGES = t.mfa_challenges


def _credential(row: RowMapping) -> TotpCredential:
    return TotpCredential(
        user_id=row["user_id"],
        encrypted_seed=bytes(row["encrypted_seed"]),
        active=bool(row["active"]),
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        last_used_step=int(row["last_used_step"]),
    )


def _challenge(row: RowMapping) -> MfaChallenge:
    return MfaChallenge(
        digest=row["digest"],
        user_id=row["user_id"],
        purpose=row["purpose"],
        amr=tuple(a for a in row["amr"].split(" ") if a),
        auth_time=row["auth_time"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


async def _replace_codes(conn: AsyncConnection, user_id: str, digests: Sequence[str], now: float) -> None:
    await conn.execute(delete(_CODES).where(_CODES.c.user_id == user_id))
    if digests:
        rows = [{"user_id": user_id, "digest": d, "created_at": now} for d in digests]
        await conn.execute(insert(_CODES), rows)


async def _has_passkey(conn: AsyncConnection, user_id: str) -> bool:
    query = select(exists().where(t.passkeys.c.user_id == user_id))
    return bool((await conn.execute(query)).scalar_one())


class SqlTotpStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert: Any = sqlite.insert if db.is_sqlite else postgresql.insert

    async def get(self, user_id: str) -> TotpCredential | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(_TOTP).where(_TOTP.c.user_id == user_id))).mappings().first()
        return _credential(row) if row else None

    async def save_pending(self, user_id: str, encrypted_seed: bytes, *, now: float) -> bool:
        values = {"encrypted_seed": encrypted_seed, "created_at": now, "last_used_step": NO_STEP}
        stmt = self._insert(_TOTP).values(user_id=user_id, active=False, activated_at=None, **values)
        # An active credential is never overwritten: replacing a second factor is disable + enroll.
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TOTP.c.user_id], set_=values, where=_TOTP.c.active.is_(False)
        ).returning(_TOTP.c.user_id)
        async with self._db.write() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def activate(
        self, user_id: str, encrypted_seed: bytes, *, step: int, recovery_digests: Sequence[str], now: float
    ) -> bool:
        async with self._db.write() as conn:
            turned_on = await conn.execute(
                update(_TOTP)
                .where(
                    _TOTP.c.user_id == user_id,
                    _TOTP.c.active.is_(False),
                    _TOTP.c.encrypted_seed == encrypted_seed,  # the seed the user scanned, not a newer one
                )
                .values(active=True, activated_at=now, last_used_step=step)
            )
            if turned_on.rowcount != 1:
                return False
            await _replace_codes(conn, user_id, recovery_digests, now)
            await conn.execute(
                update(t.users).where(t.users.c.id == user_id).values(mfa_enabled=True, updated_at=now)
            )
            await bump_rbac_version(conn)  # cached principals carry the user record (mfa_enabled)
        return True

    async def use_step(self, user_id: str, step: int) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_TOTP)
                .where(_TOTP.c.user_id == user_id, _TOTP.c.active.is_(True), _TOTP.c.last_used_step < step)
                .values(last_used_step=step)
            )
        return result.rowcount == 1

    async def remove(self, user_id: str) -> bool:
        async with self._db.write() as conn:
            # The user's row lock, as SqlPasskeyStore.remove takes it: removing TOTP and removing the
            # last passkey at the same moment then see each other, never both "another one remains".
            await conn.execute(select(t.users.c.id).where(t.users.c.id == user_id).with_for_update())
            removed = await conn.execute(delete(_TOTP).where(_TOTP.c.user_id == user_id))
            if await _has_passkey(conn, user_id):
                # A passkey is still a second factor: MFA stays on, and with it the recovery codes and
                # any half-finished MFA login (docs/passkeys.md).
                return removed.rowcount > 0
            await conn.execute(delete(_CODES).where(_CODES.c.user_id == user_id))
            await conn.execute(delete(_CHALLENGES).where(_CHALLENGES.c.user_id == user_id))
            flag = await conn.execute(
                update(t.users)
                .where(t.users.c.id == user_id, t.users.c.mfa_enabled.is_(True))
                .values(mfa_enabled=False)
            )
            if flag.rowcount:
                await bump_rbac_version(conn)
        return removed.rowcount > 0 or flag.rowcount > 0


class SqlRecoveryCodeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def replace(self, user_id: str, digests: Sequence[str], *, now: float) -> None:
        async with self._db.write() as conn:
            await _replace_codes(conn, user_id, digests, now)

    async def consume(self, user_id: str, digest: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(_CODES).where(_CODES.c.user_id == user_id, _CODES.c.digest == digest)
            )
        return result.rowcount == 1

    async def count(self, user_id: str) -> int:
        query = select(func.count()).select_from(_CODES).where(_CODES.c.user_id == user_id)
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())


class SqlMfaChallengeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, challenge: MfaChallenge) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(_CHALLENGES).values(
                    digest=challenge.digest,
                    user_id=challenge.user_id,
                    purpose=challenge.purpose,
                    amr=" ".join(challenge.amr),
                    auth_time=challenge.auth_time,
                    created_at=challenge.created_at,
                    expires_at=challenge.expires_at,
                )
            )

    async def get(self, digest: str, *, now: float) -> MfaChallenge | None:
        query = select(_CHALLENGES).where(_CHALLENGES.c.digest == digest, _CHALLENGES.c.expires_at > now)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _challenge(row) if row else None

    async def consume(self, digest: str, *, now: float) -> MfaChallenge | None:
        row = await self._db.take(_CHALLENGES, _CHALLENGES.c.digest == digest, _CHALLENGES.c.expires_at > now)
        return _challenge(row) if row else None

    async def purge_expired(self, *, now: float) -> int:
        return await self._db.delete_in_batches(_CHALLENGES, _CHALLENGES.c.expires_at <= now)
