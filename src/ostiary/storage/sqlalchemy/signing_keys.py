"""SQL signing-key store: public JWK in clear, private key only as AES-GCM ciphertext."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.signing_keys import KeyState, StoredSigningKey
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_K = t.signing_keys


def _record(row: RowMapping) -> StoredSigningKey:
    return StoredSigningKey(
        kid=row["kid"],
        alg=row["alg"],
        encrypted_private_key=bytes(row["encrypted_private_key"]),
        public_jwk=row["public_jwk"],
        state=row["state"],
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        retired_at=row["retired_at"],
    )


class SqlSigningKeyStore:
    """Implements SigningKeyStore; `transition` is one conditional UPDATE (compare-and-set)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_all(self) -> list[StoredSigningKey]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(_K).order_by(_K.c.created_at, _K.c.kid))).mappings().all()
        return [_record(row) for row in rows]

    async def add(self, key: StoredSigningKey) -> None:
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    insert(_K).values(
                        kid=key.kid,
                        alg=key.alg,
                        encrypted_private_key=key.encrypted_private_key,
                        public_jwk=key.public_jwk,
                        state=key.state,
                        created_at=key.created_at,
                        activated_at=key.activated_at,
                        retired_at=key.retired_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict("A signing key with this kid already exists.") from exc

    async def transition(self, kid: str, from_state: KeyState, to_state: KeyState, at: float) -> bool:
        values: dict[str, object] = {"state": to_state}
        if to_state == "active":
            values["activated_at"] = at
        elif to_state == "retired":
            values["retired_at"] = at
        async with self._db.write() as conn:
            result = await conn.execute(
                update(_K).where(_K.c.kid == kid, _K.c.state == from_state).values(**values)
            )
        return result.rowcount == 1

    async def delete(self, kid: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(_K).where(_K.c.kid == kid))
        return result.rowcount > 0
