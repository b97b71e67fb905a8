"""SEC-74 repeated: 20 barrier-started redeems of one refresh token, 50 rounds per database backend,
through the refresh engine on the SQL store (the HTTP variant is tests/web/tokens)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from helpers import add_user_rows
from ostiary.authn.audit import Auditor
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.sqlalchemy.audit import SqlAuditLog
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore
from ostiary.tokens.refresh import InvalidGrant, RefreshConfig, RefreshTokens, digest_of

META = RequestMeta()


async def _redeem(engine: RefreshTokens, token: str, gate: asyncio.Barrier) -> str | None:
    await gate.wait()
    try:
        return (await engine.redeem(token, client_id="ostiary", meta=META)).refresh_token
    except InvalidGrant:
        return None


@pytest.mark.sec("SEC-74")
@pytest.mark.sec("SEC-80")
async def test_fifty_rounds_of_twenty_parallel_redeems(sql_db: Database) -> None:
    await add_user_rows(sql_db, "u1")
    clock = FrozenClock()
    store = SqlRefreshTokenStore(sql_db)
    engine = RefreshTokens(
        store,
        InstanceSecret(b"s" * 32),
        clock,
        Auditor(SqlAuditLog(sql_db), clock),
        RefreshConfig(early_leeway=1e9),
    )
    for round_ in range(50):
        token, family = await engine.start("u1", "ostiary", "race", "", auth_time=clock.now())
        gate = asyncio.Barrier(20)
        results: list[Any] = await asyncio.gather(*(_redeem(engine, token, gate) for _ in range(20)))
        winners = {r for r in results if r is not None}
        assert len(winners) == 1, "inside the retry window every success is the one successor"
        (successor,) = winners
        found = await store.get(digest_of(successor))
        assert found is not None
        assert found[0].state == "active"
        parent = await store.get(digest_of(token))
        assert parent is not None
        assert parent[0].successor_digest == digest_of(successor)
        assert len(await store.list_for_user("u1", now=clock.now())) >= 1
        clock.advance(20)
        if round_ % 5:
            continue
        # Every fifth round, leave the window: 20 parallel reuses of the old token revoke the family.
        gate = asyncio.Barrier(20)
        reuse = await asyncio.gather(*(_redeem(engine, token, gate) for _ in range(20)))
        assert reuse == [None] * 20
        assert (await store.get(digest_of(successor)))[0].state == "revoked"  # type: ignore[index]
        assert all(f.id != family.id for f in await store.list_for_user("u1", now=clock.now()))
