"""Removing TOTP from an account that still has a passkey keeps two-step login on, with its recovery
codes and pending MFA logins; and removing TOTP and the last passkey at the same moment turns it off
exactly once, never leaving `mfa_enabled` on with no factor (SQLite and PostgreSQL, SEC-50)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from helpers import add_user_rows
from ostiary.storage.interfaces.mfa import MfaChallenge
from ostiary.storage.interfaces.passkeys import AddOutcome, PasskeyRecord
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore
from ostiary.storage.sqlalchemy.passkeys import SqlPasskeyStore
from ostiary.storage.sqlalchemy.users import SqlUserStore

CODES = ["a" * 64, "b" * 64]
CHALLENGE = "c" * 64


def passkey(user_id: str, credential_id: bytes, passkey_id: str) -> PasskeyRecord:
    return PasskeyRecord(
        id=passkey_id,
        user_id=user_id,
        credential_key=hashlib.sha256(credential_id).hexdigest(),
        credential_id=credential_id,
        public_key=b"\xa5" * 77,
        sign_count=0,
        user_handle=b"\x01" * 32,
        name="Phone",
        discoverable=True,
        transports=("internal",),
        aaguid="00000000-0000-0000-0000-000000000000",
        created_at=10.0,
    )


@pytest.fixture
async def db(sql_db: Database) -> Database:
    await add_user_rows(sql_db, "u1")
    return sql_db


async def mfa_flag(db: Database) -> bool:
    user = await SqlUserStore(db).get("u1")
    assert user is not None
    return user.mfa_enabled


async def totp_on(db: Database) -> None:
    totp = SqlTotpStore(db)
    assert await totp.save_pending("u1", b"seed", now=1.0)
    assert await totp.activate("u1", b"seed", step=1, recovery_digests=CODES, now=1.0)


@pytest.mark.sec("SEC-50")
async def test_removing_totp_keeps_mfa_on_while_a_passkey_remains(db: Database) -> None:
    await totp_on(db)
    assert (
        await SqlPasskeyStore(db).add(passkey("u1", b"\x01" * 16, "p1"), recovery_digests=[])
        is AddOutcome.ADDED
    )
    challenges = SqlMfaChallengeStore(db)
    await challenges.create(MfaChallenge(CHALLENGE, "u1", "session", ("pwd",), 1.0, 1e12, created_at=1.0))

    assert await SqlTotpStore(db).remove("u1") is True
    assert await SqlTotpStore(db).get("u1") is None
    assert await mfa_flag(db)  # the passkey is still a second factor
    assert await SqlRecoveryCodeStore(db).count("u1") == 2  # and its way in without the device
    assert await challenges.get(CHALLENGE, now=2.0) is not None  # a pending login can still finish

    outcome = await SqlPasskeyStore(db).remove("u1", "p1")  # the last factor goes: MFA off
    assert outcome.mfa_turned_off and not await mfa_flag(db)
    assert await SqlRecoveryCodeStore(db).count("u1") == 0


async def test_removing_totp_without_passkeys_turns_mfa_off(db: Database) -> None:
    await totp_on(db)
    assert await SqlTotpStore(db).remove("u1") is True
    assert not await mfa_flag(db)
    assert await SqlRecoveryCodeStore(db).count("u1") == 0
    assert await SqlTotpStore(db).remove("u1") is False  # nothing left to remove


async def test_removing_totp_and_the_last_passkey_at_once_turns_mfa_off(db: Database) -> None:
    """Both take the user's row lock: one of them sees that the other factor is gone."""
    totp, passkeys = SqlTotpStore(db), SqlPasskeyStore(db)
    for round_ in range(20):
        await totp_on(db)
        added = await passkeys.add(passkey("u1", bytes([round_]) * 16, f"p{round_}"), recovery_digests=[])
        assert added is AddOutcome.ADDED
        gate = asyncio.Barrier(2)

        async def remove_totp(gate: asyncio.Barrier = gate) -> bool:
            await gate.wait()
            return await totp.remove("u1")

        async def remove_passkey(gate: asyncio.Barrier = gate, passkey_id: str = f"p{round_}") -> bool:
            await gate.wait()
            return (await passkeys.remove("u1", passkey_id)).removed

        assert await asyncio.gather(remove_totp(), remove_passkey()) == [True, True]
        assert not await mfa_flag(db), f"round {round_}: MFA left on with no factor"
        assert await SqlRecoveryCodeStore(db).count("u1") == 0
