"""A user's own passkeys: rename, remove (SEC-14: a recent login that used a second factor), and
two-step login turning off with the last second factor but not before."""

from __future__ import annotations

import base64

import pytest
from passkey_unit_support import META, Passkeys, device

from ostiary.authn.totp import code_at, step_at
from ostiary.core.errors import NotFound, ReauthRequired, ValidationFailed
from ostiary.storage.interfaces.mfa import MfaChallenge
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore

PASSKEY_LOGIN = ("hwk", "user")


async def test_rename_changes_only_the_callers_own_passkey(pk: Passkeys) -> None:
    done = await pk.register(device(), "u1")
    await pk.manage.rename(await pk.user("u1"), done.passkey.id, " Phone ", META)
    assert (await pk.manage.list("u1"))[0].name == "Phone"
    with pytest.raises(NotFound):
        await pk.manage.rename(await pk.user("u2"), done.passkey.id, "mine now", META)
    with pytest.raises(ValidationFailed):
        await pk.manage.rename(await pk.user("u1"), done.passkey.id, "   ", META)
    assert (await pk.manage.list("u1"))[0].name == "Phone"


@pytest.mark.sec("SEC-14")
async def test_removing_needs_a_recent_login_with_a_second_factor(pk: Passkeys) -> None:
    done = await pk.register(device(), "u1")
    user = await pk.user("u1")
    with pytest.raises(ReauthRequired):
        await pk.manage.remove(user, pk.principal("u1", amr=("pwd",)), done.passkey.id, META)
    with pytest.raises(ReauthRequired):
        await pk.manage.remove(user, pk.principal("u1", age=601, amr=PASSKEY_LOGIN), done.passkey.id, META)
    assert len(await pk.manage.list("u1")) == 1
    outcome = await pk.manage.remove(user, pk.principal("u1", amr=("pwd", "otp")), done.passkey.id, META)
    assert outcome.removed and outcome.mfa_turned_off
    assert not (await pk.user("u1")).mfa_enabled
    assert await pk.recovery.remaining("u1") == 0
    events = await pk.audit_events("passkey.removed")
    assert events[0]["details"]["mfa_turned_off"] is True


@pytest.mark.sec("SEC-56")
async def test_another_users_passkey_is_not_found(pk: Passkeys) -> None:
    done = await pk.register(device(), "u1")
    with pytest.raises(NotFound):
        await pk.manage.remove(
            await pk.user("u2"), pk.principal("u2", amr=PASSKEY_LOGIN), done.passkey.id, META
        )
    assert len(await pk.manage.list("u1")) == 1


async def test_two_step_login_stays_on_while_another_factor_remains(pk: Passkeys) -> None:
    first = await pk.register(device(), "u1")
    pk.clock.advance(1)
    second = await pk.register(device(), "u1")
    user, principal = await pk.user("u1"), pk.principal("u1", amr=PASSKEY_LOGIN)
    pending = MfaChallenge("c" * 64, "u1", "session", ("pwd",), 1.0, 1e12, created_at=1.0)
    challenges = SqlMfaChallengeStore(pk.db)
    await challenges.create(pending)
    assert not (await pk.manage.remove(user, principal, first.passkey.id, META)).mfa_turned_off
    assert (await pk.user("u1")).mfa_enabled and await pk.recovery.remaining("u1") == 10
    assert await challenges.get("c" * 64, now=2.0) is not None
    assert (await pk.manage.remove(user, principal, second.passkey.id, META)).mfa_turned_off
    assert await challenges.get("c" * 64, now=2.0) is None  # a half-finished login dies with MFA


async def test_an_active_totp_keeps_two_step_login_on(pk: Passkeys) -> None:
    done = await pk.register(device(), "u1")
    enrollment = await pk.totp.begin("u1", "user-u1")
    seed = enrollment.secret
    raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
    assert await pk.totp.activate("u1", code_at(raw, step_at(pk.clock.now())), [])
    outcome = await pk.manage.remove(
        await pk.user("u1"), pk.principal("u1", amr=PASSKEY_LOGIN), done.passkey.id, META
    )
    assert outcome.removed and not outcome.mfa_turned_off
    assert (await pk.user("u1")).mfa_enabled
