"""The MFA store contract on SQLite and PostgreSQL: TOTP credentials, recovery codes, challenges, and
exactly one winner among concurrent uses of one single-use thing (SEC-47, SEC-49, SEC-50)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from helpers import add_user_rows, schema_differences
from ostiary.storage.interfaces.mfa import NO_STEP, MfaChallenge
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore
from ostiary.storage.sqlalchemy.users import SqlUserStore

MFA_TABLES = {"mfa_totp", "mfa_recovery_codes", "mfa_challenges"}
SEED = b"\x01" * 29
OTHER_SEED = b"\x02" * 29
RACERS = 5


async def race(n: int, attempt: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start `n` calls at once (behind a barrier) and return their results."""
    gate = asyncio.Barrier(n)

    async def one() -> Any:
        await gate.wait()
        return await attempt()

    return list(await asyncio.gather(*(one() for _ in range(n))))


@pytest.fixture
async def db(sql_db: Database) -> Database:
    await add_user_rows(sql_db, "u1", "u2")
    return sql_db


async def mfa_flag(db: Database, user_id: str) -> bool:
    user = await SqlUserStore(db).get(user_id)
    assert user is not None
    return user.mfa_enabled


async def test_migration_0005_creates_exactly_the_mfa_tables(sql_db: Database) -> None:
    assert await schema_differences(sql_db, MFA_TABLES) == []


@pytest.mark.sec("SEC-50")
async def test_totp_pending_then_active_then_removed(db: Database) -> None:
    store = SqlTotpStore(db)
    assert await store.get("u1") is None
    assert await store.save_pending("u1", SEED, now=10.0)
    assert await store.save_pending("u1", OTHER_SEED, now=11.0)  # restart: the newer seed wins
    pending = await store.get("u1")
    assert pending is not None
    assert (pending.encrypted_seed, pending.active, pending.created_at) == (OTHER_SEED, False, 11.0)
    assert pending.last_used_step == NO_STEP
    assert not await store.use_step("u1", 5)  # a pending credential accepts no login code
    assert not await store.activate("u1", SEED, step=7, recovery_digests=["a" * 64], now=12.0)
    assert not await mfa_flag(db, "u1")
    assert await store.activate("u1", OTHER_SEED, step=7, recovery_digests=["a" * 64, "b" * 64], now=12.0)
    assert await mfa_flag(db, "u1")
    active = await store.get("u1")
    assert active is not None and active.active and active.activated_at == 12.0 and active.last_used_step == 7
    assert await SqlRecoveryCodeStore(db).count("u1") == 2
    assert not await store.activate("u1", OTHER_SEED, step=8, recovery_digests=[], now=13.0)
    assert not await store.save_pending("u1", SEED, now=14.0)  # an active credential stays
    assert (await store.get("u1")).encrypted_seed == OTHER_SEED  # type: ignore[union-attr]
    challenges = SqlMfaChallengeStore(db)
    await challenges.create(MfaChallenge("c" * 64, "u1", "session", ("pwd",), 1.0, 1e12, created_at=1.0))
    assert await store.remove("u1")
    assert await store.get("u1") is None
    assert not await mfa_flag(db, "u1")
    assert await SqlRecoveryCodeStore(db).count("u1") == 0
    assert await challenges.get("c" * 64, now=2.0) is None
    assert not await store.remove("u1")


@pytest.mark.sec("SEC-47")
async def test_a_step_is_used_once_and_never_an_older_one(db: Database) -> None:
    store = SqlTotpStore(db)
    await store.save_pending("u1", SEED, now=1.0)
    await store.activate("u1", SEED, step=100, recovery_digests=[], now=1.0)
    assert not await store.use_step("u1", 100)
    assert not await store.use_step("u1", 99)
    assert await store.use_step("u1", 101)
    assert not await store.use_step("u2", 102)  # no credential
    assert (await store.get("u1")).last_used_step == 101  # type: ignore[union-attr]


@pytest.mark.sec("SEC-47")
async def test_the_same_step_five_times_at_once_is_accepted_once(db: Database) -> None:
    store = SqlTotpStore(db)
    await store.save_pending("u1", SEED, now=1.0)
    await store.activate("u1", SEED, step=100, recovery_digests=[], now=1.0)
    for step in range(101, 111):
        assert (await race(RACERS, lambda step=step: store.use_step("u1", step))).count(True) == 1


@pytest.mark.sec("SEC-50")
async def test_activation_five_times_at_once_happens_once(db: Database) -> None:
    store = SqlTotpStore(db)
    await store.save_pending("u1", SEED, now=1.0)
    results = await race(
        RACERS, lambda: store.activate("u1", SEED, step=3, recovery_digests=["d" * 64], now=2.0)
    )
    assert results.count(True) == 1
    assert await SqlRecoveryCodeStore(db).count("u1") == 1


@pytest.mark.sec("SEC-50")
async def test_recovery_codes_replace_consume_count(db: Database) -> None:
    codes = SqlRecoveryCodeStore(db)
    await codes.replace("u1", [f"{i:064d}" for i in range(10)], now=1.0)
    await codes.replace("u2", [f"{0:064d}"], now=1.0)
    assert await codes.count("u1") == 10
    assert await codes.consume("u1", f"{3:064d}")
    assert not await codes.consume("u1", f"{3:064d}")
    assert not await codes.consume("u2", f"{4:064d}")
    assert await codes.count("u1") == 9
    await codes.replace("u1", ["f" * 64], now=2.0)
    assert not await codes.consume("u1", f"{5:064d}")
    assert await codes.count("u1") == 1
    assert await codes.count("u2") == 1


@pytest.mark.sec("SEC-50")
async def test_one_recovery_code_five_times_at_once_is_accepted_once(db: Database) -> None:
    codes = SqlRecoveryCodeStore(db)
    await codes.replace("u1", [f"{i:064d}" for i in range(10)], now=1.0)
    for i in range(10):
        assert (await race(RACERS, lambda i=i: codes.consume("u1", f"{i:064d}"))).count(True) == 1
    assert await codes.count("u1") == 0


@pytest.mark.sec("SEC-49")
async def test_challenges_live_until_expiry_or_consumption(db: Database) -> None:
    store = SqlMfaChallengeStore(db)
    live = MfaChallenge("a" * 64, "u1", "session", ("pwd",), 100.0, 400.0, created_at=100.0)
    await store.create(live)
    await store.create(MfaChallenge("b" * 64, "u2", "token", ("pwd",), 100.0, 200.0, created_at=100.0))
    assert await store.get("a" * 64, now=150.0) == live
    assert await store.get("b" * 64, now=200.0) is None  # expired at its expires_at
    assert await store.consume("b" * 64, now=200.0) is None
    assert await store.purge_expired(now=250.0) == 1
    assert await store.consume("a" * 64, now=399.0) == live
    assert await store.consume("a" * 64, now=399.0) is None
    assert await store.get("a" * 64, now=150.0) is None


@pytest.mark.sec("SEC-49")
async def test_one_challenge_consumed_five_times_at_once_once(db: Database) -> None:
    store = SqlMfaChallengeStore(db)
    for i in range(10):
        digest = f"{i:064d}"
        await store.create(MfaChallenge(digest, "u1", "session", ("pwd",), 1.0, 1e12, created_at=1.0))
        results = await race(RACERS, lambda digest=digest: store.consume(digest, now=2.0))
        assert sum(r is not None for r in results) == 1
