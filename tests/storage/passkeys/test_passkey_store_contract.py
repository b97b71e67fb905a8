"""The passkey store contract on SQLite and PostgreSQL: one account per credential id, the counter
that only grows, `mfa_enabled` flipping with the factors, and exactly one winner among concurrent
uses of one challenge or one counter value (SEC-51)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from helpers import add_user_rows, schema_differences
from ostiary.storage.interfaces.mfa import MfaChallenge
from ostiary.storage.interfaces.passkeys import AddOutcome, PasskeyChallenge, PasskeyRecord
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore
from ostiary.storage.sqlalchemy.passkeys import SqlPasskeyChallengeStore, SqlPasskeyStore
from ostiary.storage.sqlalchemy.users import SqlUserStore

PASSKEY_TABLES = {"passkeys", "passkey_challenges"}
RACERS = 5
CODES = ["a" * 64, "b" * 64]


async def race(n: int, attempt: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Start `n` calls at once (behind a barrier) and return their results."""
    gate = asyncio.Barrier(n)

    async def one() -> Any:
        await gate.wait()
        return await attempt()

    return list(await asyncio.gather(*(one() for _ in range(n))))


def passkey(user_id: str, credential_id: bytes, *, id: str | None = None, **fields: Any) -> PasskeyRecord:
    values: dict[str, Any] = {
        "id": id or f"{user_id}-{credential_id.hex()[:8]}",
        "user_id": user_id,
        "credential_key": hashlib.sha256(credential_id).hexdigest(),
        "credential_id": credential_id,
        "public_key": b"\xa5" * 77,
        "sign_count": 0,
        "user_handle": b"\x01" * 32,
        "name": "Phone",
        "discoverable": True,
        "transports": ("internal", "hybrid"),
        "aaguid": "00000000-0000-0000-0000-000000000000",
        "created_at": 10.0,
    }
    values.update(fields)
    return PasskeyRecord(**values)


@pytest.fixture
async def db(sql_db: Database) -> Database:
    await add_user_rows(sql_db, "u1", "u2")
    return sql_db


async def mfa_flag(db: Database, user_id: str) -> bool:
    user = await SqlUserStore(db).get(user_id)
    assert user is not None
    return user.mfa_enabled


async def test_migration_0008_creates_exactly_the_passkey_tables(sql_db: Database) -> None:
    assert await schema_differences(sql_db, PASSKEY_TABLES) == []


async def test_add_get_list_round_trip(db: Database) -> None:
    store = SqlPasskeyStore(db)
    record = passkey("u1", b"\x01" * 16, sign_count=4_294_967_295, backed_up=True)  # the largest counter
    assert await store.add(record, recovery_digests=CODES) is AddOutcome.ADDED_FIRST_FACTOR
    assert await store.get(record.credential_key) == record
    assert await store.list_user("u1") == [record]
    assert await store.list_user("u2") == []
    assert await store.get("0" * 64) is None


@pytest.mark.sec("SEC-51")
async def test_a_credential_id_belongs_to_one_account(db: Database) -> None:
    store = SqlPasskeyStore(db)
    await store.add(passkey("u1", b"\x02" * 16), recovery_digests=[])
    assert await store.add(passkey("u2", b"\x02" * 16), recovery_digests=CODES) is AddOutcome.DUPLICATE
    assert (
        await store.add(passkey("u1", b"\x02" * 16, id="again"), recovery_digests=[]) is AddOutcome.DUPLICATE
    )
    assert await store.list_user("u2") == []
    assert not await mfa_flag(db, "u2")
    assert await SqlRecoveryCodeStore(db).count("u2") == 0


@pytest.mark.sec("SEC-51")
async def test_one_credential_id_registered_by_two_users_at_once_goes_to_one(db: Database) -> None:
    store = SqlPasskeyStore(db)
    users = ["u1", "u2", "u1", "u2", "u1"]
    records = [passkey(u, b"\x03" * 16, id=f"r{i}") for i, u in enumerate(users)]
    pending = iter(records)
    outcomes = await race(RACERS, lambda: store.add(next(pending), recovery_digests=[]))
    assert outcomes.count(AddOutcome.DUPLICATE) == RACERS - 1
    owners = [r.user_id for r in await store.list_user("u1") + await store.list_user("u2")]
    assert len(owners) == 1


async def test_the_first_passkey_turns_mfa_on_with_recovery_codes_and_only_the_first(db: Database) -> None:
    store = SqlPasskeyStore(db)
    assert (
        await store.add(passkey("u1", b"\x04" * 16), recovery_digests=CODES) is AddOutcome.ADDED_FIRST_FACTOR
    )
    assert await mfa_flag(db, "u1")
    assert await SqlRecoveryCodeStore(db).count("u1") == 2
    assert await store.add(passkey("u1", b"\x05" * 16), recovery_digests=["c" * 64]) is AddOutcome.ADDED
    assert await SqlRecoveryCodeStore(db).count("u1") == 2  # the first codes stay


async def test_first_passkeys_added_at_once_turn_mfa_on_once(db: Database) -> None:
    store = SqlPasskeyStore(db)
    records = iter(passkey("u1", bytes([i]) * 16) for i in range(10, 10 + RACERS))
    outcomes = await race(RACERS, lambda: store.add(next(records), recovery_digests=CODES))
    assert outcomes.count(AddOutcome.ADDED_FIRST_FACTOR) == 1
    assert outcomes.count(AddOutcome.ADDED) == RACERS - 1


@pytest.mark.sec("SEC-51")
async def test_the_counter_only_grows_except_zero_after_zero(db: Database) -> None:
    store = SqlPasskeyStore(db)
    zero = passkey("u1", b"\x06" * 16)
    await store.add(zero, recovery_digests=[])
    assert await store.record_use(zero.credential_key, 0, backed_up=True, now=20.0)
    assert await store.record_use(zero.credential_key, 0, backed_up=True, now=21.0)
    assert await store.record_use(zero.credential_key, 5, backed_up=True, now=22.0)
    assert not await store.record_use(zero.credential_key, 5, backed_up=False, now=23.0)
    assert not await store.record_use(zero.credential_key, 4, backed_up=False, now=24.0)
    assert not await store.record_use(zero.credential_key, 0, backed_up=False, now=25.0)
    assert not await store.record_use("f" * 64, 9, backed_up=False, now=26.0)
    stored = await store.get(zero.credential_key)
    assert stored is not None
    assert (stored.sign_count, stored.backed_up, stored.last_used_at) == (5, True, 22.0)


@pytest.mark.sec("SEC-51")
async def test_the_same_counter_value_five_times_at_once_is_accepted_once(db: Database) -> None:
    store = SqlPasskeyStore(db)
    record = passkey("u1", b"\x07" * 16)
    await store.add(record, recovery_digests=[])
    for count in range(1, 6):
        results = await race(
            RACERS, lambda c=count: store.record_use(record.credential_key, c, backed_up=False, now=1.0)
        )
        assert results.count(True) == 1


async def test_rename_and_remove_touch_only_the_owners_passkey(db: Database) -> None:
    store = SqlPasskeyStore(db)
    record = passkey("u1", b"\x08" * 16)
    await store.add(record, recovery_digests=[])
    assert not await store.rename("u2", record.id, "stolen")
    assert await store.rename("u1", record.id, "Laptop")
    assert (await store.list_user("u1"))[0].name == "Laptop"
    assert not (await store.remove("u2", record.id)).removed
    assert (await store.remove("u1", record.id)).removed
    assert not (await store.remove("u1", record.id)).removed
    assert await store.get(record.credential_key) is None


async def test_removing_the_last_second_factor_turns_mfa_off(db: Database) -> None:
    store = SqlPasskeyStore(db)
    first, second = passkey("u1", b"\x09" * 16, id="p1"), passkey("u1", b"\x0a" * 16, id="p2")
    await store.add(first, recovery_digests=CODES)
    await store.add(second, recovery_digests=[])
    challenges = SqlMfaChallengeStore(db)
    await challenges.create(MfaChallenge("c" * 64, "u1", "session", ("pwd",), 1.0, 1e12, created_at=1.0))
    assert not (await store.remove("u1", "p1")).mfa_turned_off
    assert await mfa_flag(db, "u1") and await SqlRecoveryCodeStore(db).count("u1") == 2
    outcome = await store.remove("u1", "p2")
    assert outcome.removed and outcome.mfa_turned_off
    assert not await mfa_flag(db, "u1")
    assert await SqlRecoveryCodeStore(db).count("u1") == 0
    assert await challenges.get("c" * 64, now=2.0) is None


async def test_an_active_totp_keeps_mfa_on_when_the_last_passkey_goes(db: Database) -> None:
    store = SqlPasskeyStore(db)
    totp = SqlTotpStore(db)
    await totp.save_pending("u1", b"seed", now=1.0)
    await totp.activate("u1", b"seed", step=1, recovery_digests=CODES, now=1.0)
    record = passkey("u1", b"\x0b" * 16)
    assert await store.add(record, recovery_digests=["c" * 64]) is AddOutcome.ADDED  # MFA was on
    outcome = await store.remove("u1", record.id)
    assert outcome.removed and not outcome.mfa_turned_off
    assert await mfa_flag(db, "u1") and await SqlRecoveryCodeStore(db).count("u1") == 2


async def test_removing_the_last_two_passkeys_at_once_turns_mfa_off(db: Database) -> None:
    """Each removal sees the other's (the user's row lock): never both "another one remains"."""
    store = SqlPasskeyStore(db)
    for round_ in range(20):
        first, second = bytes([round_, 1]) * 8, bytes([round_, 2]) * 8
        await store.add(passkey("u1", first, id=f"a{round_}"), recovery_digests=CODES)
        await store.add(passkey("u1", second, id=f"b{round_}"), recovery_digests=[])
        gate = asyncio.Barrier(2)

        async def remove(passkey_id: str, gate: asyncio.Barrier = gate) -> Any:
            await gate.wait()
            return await store.remove("u1", passkey_id)

        outcomes = await asyncio.gather(remove(f"a{round_}"), remove(f"b{round_}"))
        assert all(o.removed for o in outcomes)
        assert [o.mfa_turned_off for o in outcomes].count(True) == 1
        assert not await mfa_flag(db, "u1")


@pytest.mark.sec("SEC-51")
async def test_a_challenge_is_consumed_once_and_never_after_expiry(db: Database) -> None:
    store = SqlPasskeyChallengeStore(db)
    live = PasskeyChallenge("a" * 64, "passwordless", None, "b" * 64, expires_at=100.0, created_at=1.0)
    await store.create(live)
    await store.create(PasskeyChallenge("c" * 64, "second_factor", "u1", "d" * 64, expires_at=50.0))
    assert await store.consume("c" * 64, now=50.0) is None  # expired at its expiry
    assert await store.consume("a" * 64, now=99.0) == live
    assert await store.consume("a" * 64, now=99.0) is None
    assert await store.purge_expired(now=60.0) == 1
    assert await store.purge_expired(now=60.0) == 0


@pytest.mark.sec("SEC-51")
async def test_one_challenge_consumed_five_times_at_once_has_one_winner(db: Database) -> None:
    store = SqlPasskeyChallengeStore(db)
    for n in range(5):
        digest = f"{n:064x}"
        await store.create(PasskeyChallenge(digest, "register_passkey", "u1", None, expires_at=1e12))
        results = await race(RACERS, lambda d=digest: store.consume(d, now=1.0))
        assert sum(r is not None for r in results) == 1
