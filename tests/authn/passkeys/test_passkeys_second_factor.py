"""A passkey as the second step after a password (authn/mfa_login.py, SEC-49, SEC-51): offered as the
"webauthn" method, bound to the pending login, counted by the MFA throttle, and named in amr."""

from __future__ import annotations

from typing import Any

import pytest
from passkey_unit_support import META, Passkeys, device
from soft_authenticator import SoftAuthenticator

from ostiary.authn.mfa_login import InvalidSecondFactor, MfaChallengeInvalid
from ostiary.authn.mfa_throttle import MfaLocked
from ostiary.core.errors import ValidationFailed


async def options_for(pk: Passkeys, token: str) -> dict[str, Any]:
    """Passkey options for the second step of this pending login (as /auth/login/mfa/passkey/options)."""
    challenge = await pk.login.challenge(token, purpose="session")
    return await pk.authenticator.second_factor_options(challenge.user_id, challenge.digest)


async def pending(pk: Passkeys, user_id: str = "u1") -> tuple[str, dict[str, Any]]:
    """A password-verified login of the user and passkey options for its second step."""
    started = await pk.login.begin(await pk.user(user_id), META, purpose="session")
    return started.token, await options_for(pk, started.token)


@pytest.mark.sec("SEC-49")
async def test_a_passkey_only_user_has_two_step_login_with_the_webauthn_method(pk: Passkeys) -> None:
    await pk.register(device(), "u1")
    assert (await pk.user("u1")).mfa_enabled
    started = await pk.login.begin(await pk.user("u1"), META, purpose="session")
    assert started.methods == ("webauthn", "recovery_code")


@pytest.mark.sec("SEC-51")
async def test_the_passkey_finishes_the_login_with_pwd_and_hwk(pk: Passkeys) -> None:
    phone = device()
    await pk.register(phone, "u1")
    token, options = await pending(pk)
    assert options["userVerification"] == "preferred"
    assert len(options["allowCredentials"]) == 1
    done = await pk.login.complete(token, META, purpose="session", passkey=phone.get(options))
    assert (done.user.id, done.method, done.amr) == ("u1", "webauthn", ("pwd", "hwk", "user"))
    with pytest.raises(MfaChallengeInvalid):  # the pending login is used up
        await pk.login.challenge(token, purpose="session")


async def test_without_user_verification_the_amr_is_pwd_and_hwk(pk: Passkeys) -> None:
    key = device()
    await pk.register(key, "u1", passwordless=False, user_verified=False)
    token, options = await pending(pk)
    done = await pk.login.complete(
        token, META, purpose="session", passkey=key.get(options, user_verified=False)
    )
    assert done.amr == ("pwd", "hwk")


@pytest.mark.sec("SEC-51")
async def test_a_webauthn_challenge_finishes_only_the_login_it_was_issued_for(pk: Passkeys) -> None:
    phone = device()
    await pk.register(phone, "u1")
    token_a, options_a = await pending(pk)
    token_b, _ = await pending(pk)
    with pytest.raises(InvalidSecondFactor):
        await pk.login.complete(token_b, META, purpose="session", passkey=phone.get(options_a))
    with pytest.raises(InvalidSecondFactor):  # and the challenge was used up by that try
        await pk.login.complete(token_a, META, purpose="session", passkey=phone.get(options_a))


@pytest.mark.sec("SEC-51")
async def test_another_users_passkey_does_not_finish_the_login(pk: Passkeys) -> None:
    mine, theirs = device(), device()
    await pk.register(mine, "u1")
    await pk.register(theirs, "u2")
    token, options = await pending(pk, "u1")
    signed = theirs.get(options, credential=theirs.credentials[0])
    with pytest.raises(InvalidSecondFactor) as caught:
        await pk.login.complete(token, META, purpose="session", passkey=signed)
    assert caught.value.message == "The passkey could not be verified. Try again."


@pytest.mark.sec("SEC-48")
async def test_failed_passkeys_count_against_the_mfa_throttle(pk: Passkeys) -> None:
    phone = device()
    await pk.register(phone, "u1")
    token, _ = await pending(pk)
    for _ in range(5):
        options = await options_for(pk, token)
        signed = phone.get(options, break_signature=True)
        with pytest.raises(InvalidSecondFactor):
            await pk.login.complete(token, META, purpose="session", passkey=signed)
    with pytest.raises(MfaLocked):
        await pk.login.complete(
            token, META, purpose="session", passkey=phone.get(await options_for(pk, token))
        )
    assert len(await pk.audit_events("passkey.assertion_failed")) == 5  # each a bad signature
    failures = await pk.audit_events("login.failure")
    assert [e["details"]["factor"] for e in failures] == ["webauthn"] * 5


async def test_exactly_one_factor_is_sent(pk: Passkeys) -> None:
    phone: SoftAuthenticator = device()
    await pk.register(phone, "u1")
    token, options = await pending(pk)
    with pytest.raises(ValidationFailed):
        await pk.login.complete(token, META, purpose="session", code="123456", passkey=phone.get(options))


async def test_a_user_without_passkeys_gets_no_webauthn_method(pk: Passkeys) -> None:
    await pk.users.update("u1", mfa_enabled=True)
    started = await pk.login.begin(await pk.user("u1"), META, purpose="session")
    assert started.methods == ("recovery_code",)
    assert not await pk.authenticator.has_passkeys("u1")
