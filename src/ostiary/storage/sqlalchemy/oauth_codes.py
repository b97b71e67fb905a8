"""SQL authorization-code store (RFC 6749 §4.1.2): single use by DELETE … RETURNING (SEC-29, SEC-75).

Taking the code and remembering it as redeemed happen in one write transaction, so a replay racing
the first redemption either finds the live row (and loses the DELETE, waiting on its row lock on
PostgreSQL or on BEGIN IMMEDIATE on SQLite) or finds the redeemed row with the grant to revoke.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_codes import REDEEMED_MEMORY_SECONDS, AuthorizationCodeRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_L = t.oauth_codes
_R = t.oauth_redeemed_codes


def _values(code_digest: str, record: AuthorizationCodeRecord) -> dict[str, Any]:
    return {
        "digest": code_digest,
        "client_id": record.client_id,
        "user_id": record.user_id,
        "grant_id": record.grant_id,
        "redirect_uri": record.redirect_uri,
        "redirect_uri_provided": record.redirect_uri_provided,
        "scope": list(record.scope),
        "code_challenge": record.code_challenge,
        "code_challenge_method": record.code_challenge_method,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "auth_time": record.auth_time,
        "amr": list(record.amr),
        "acr": record.acr,
        "nonce": record.nonce,
        "sid": record.sid,
    }


def _record(row: RowMapping) -> AuthorizationCodeRecord:
    return AuthorizationCodeRecord(
        client_id=row["client_id"],
        user_id=row["user_id"],
        grant_id=row["grant_id"],
        redirect_uri=row["redirect_uri"],
        redirect_uri_provided=row["redirect_uri_provided"],
        scope=tuple(row["scope"]),
        code_challenge=row["code_challenge"],
        code_challenge_method=row["code_challenge_method"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        auth_time=row["auth_time"],
        amr=tuple(row["amr"]),
        acr=row["acr"],
        nonce=row["nonce"],
        sid=row["sid"],
    )


class SqlAuthorizationCodeStore:
    """Implements AuthorizationCodeStore. Rows past their time are removed by `purge`."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def save(self, code_digest: str, record: AuthorizationCodeRecord) -> None:
        try:
            async with self._db.write() as conn:
                # A digest once redeemed must never become live again: it would be redeemable twice.
                if (await conn.execute(select(_R.c.digest).where(_R.c.digest == code_digest))).first():
                    raise Conflict("authorization code digest collision")
                await conn.execute(insert(_L).values(**_values(code_digest, record)))
        except IntegrityError as exc:
            raise Conflict("authorization code digest collision") from exc

    async def consume(self, code_digest: str) -> AuthorizationCodeRecord | None:
        async with self._db.write() as conn:
            row = (
                (await conn.execute(delete(_L).where(_L.c.digest == code_digest).returning(*_L.c)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            record = _record(row)
            await conn.execute(
                insert(_R).values(
                    digest=code_digest,
                    grant_id=record.grant_id,
                    forget_after=record.expires_at + REDEEMED_MEMORY_SECONDS,
                )
            )
        return record

    async def get_redeemed(self, code_digest: str) -> str | None:
        query = select(_R.c.grant_id).where(_R.c.digest == code_digest, _R.c.forget_after > self._clock.now())
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar()

    async def purge(self, *, before: float) -> int:
        """Delete codes that expired unredeemed and redemptions no longer remembered, before `before`."""
        live = await self._db.delete_in_batches(_L, _L.c.expires_at < before)
        return live + await self._db.delete_in_batches(_R, _R.c.forget_after < before)
