"""SQL store of single-use email links (storage/interfaces/email_tokens.py).

`consume` is one `DELETE … WHERE digest AND purpose AND unexpired [AND binding] RETURNING`: PostgreSQL
serialises competing deletes on the row lock and re-checks the condition, SQLite runs one
`BEGIN IMMEDIATE` writer at a time, so exactly one caller gets the row.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.engine import RowMapping

from ostiary.storage.interfaces.email_tokens import EmailToken, EmailTokenPurpose
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_TOKENS = t.email_tokens


def _token(row: RowMapping) -> EmailToken:
    return EmailToken(
        digest=row["digest"],
        purpose=cast(EmailTokenPurpose, row["purpose"]),
        user_id=row["user_id"],
        email=row["email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        binding=row["binding"],
    )


class SqlEmailTokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, token: EmailToken) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(_TOKENS).values(
                    digest=token.digest,
                    purpose=token.purpose,
                    user_id=token.user_id,
                    email=token.email,
                    binding=token.binding,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                )
            )

    async def get(self, digest: str, purpose: str, *, now: float) -> EmailToken | None:
        query = select(_TOKENS).where(
            _TOKENS.c.digest == digest, _TOKENS.c.purpose == purpose, _TOKENS.c.expires_at > now
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _token(row) if row else None

    async def consume(
        self, digest: str, purpose: str, *, now: float, binding: str | None = None
    ) -> EmailToken | None:
        row = await self._db.take(
            _TOKENS,
            _TOKENS.c.digest == digest,
            _TOKENS.c.purpose == purpose,
            _TOKENS.c.expires_at > now,
            # A bound entry needs the same binding; an unbound one ignores what is presented.
            or_(_TOKENS.c.binding.is_(None), _TOKENS.c.binding == binding),
        )
        return _token(row) if row else None

    async def delete_for_user(self, user_id: str, purposes: Collection[str]) -> int:
        stmt = delete(_TOKENS).where(_TOKENS.c.user_id == user_id, _TOKENS.c.purpose.in_(list(purposes)))
        async with self._db.write() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def purge_expired(self, *, now: float) -> int:
        return await self._db.delete_in_batches(_TOKENS, _TOKENS.c.expires_at <= now)
