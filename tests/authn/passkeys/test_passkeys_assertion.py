"""Passwordless login with a passkey (W3C WebAuthn L2 §7.2): every check of SEC-51 refuses on its
own, the signature counter catches a cloned authenticator, and amr names what was proven."""

from __future__ import annotations

from typing import Any

import pytest
from passkey_unit_support import META, Passkeys, device
from soft_authenticator import SoftAuthenticator

from ostiary.authn.passkeys_ceremony import PasskeyChallengeInvalid, PasskeyRejected
from ostiary.core.secrets import random_token

NONCE = random_token(32)


async def enrolled(pk: Passkeys, user_id: str = "u1", **device_options: Any) -> SoftAuthenticator:
    phone = device(**device_options)
    await pk.register(phone, user_id)
    return phone


async def passwordless(pk: Passkeys, phone: SoftAuthenticator, nonce: str = NONCE, **bend: Any) -> Any:
    options = await pk.authenticator.passwordless_options(NONCE)
    return await pk.authenticator.verify_passwordless(phone.get(options, **bend), nonce, META)


@pytest.mark.sec("SEC-51")
async def test_a_passkey_signs_in_without_a_password(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    options = await pk.authenticator.passwordless_options(NONCE)
    assert options["allowCredentials"] == []  # discoverable: the authenticator offers what it holds
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    pk.clock.advance(5)
    done = await pk.authenticator.verify_passwordless(phone.get(options), NONCE, META)
    assert done.user.id == "u1"
    assert done.amr == ("hwk", "user")
    stored = (await pk.manage.list("u1"))[0]
    assert (stored.sign_count, stored.last_used_at) == (1, pk.clock.now())
    success = await pk.audit_events("login.success")
    assert success[-1]["subject"] == "u1" and success[-1]["details"]["amr"] == ["hwk", "user"]


async def test_a_synced_passkey_is_a_software_key(pk: Passkeys) -> None:
    phone = await enrolled(pk, synced=True, counter_step=0)
    done = await passwordless(pk, phone)
    assert done.amr == ("swk", "user")
    assert (await pk.manage.list("u1"))[0].backed_up


@pytest.mark.sec("SEC-51")
@pytest.mark.parametrize(
    "bend",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://localhost:8001"},
        {"ceremony": "webauthn.create"},
        {"rp_id": "evil.example"},
        {"user_present": False},
        {"user_verified": False},
        {"break_signature": True},
        {"user_handle": b"\x00" * 32},
    ],
    ids=["origin", "port", "type", "rp-id-hash", "no-up", "no-uv", "signature", "user-handle"],
)
async def test_each_failed_check_refuses_the_login(pk: Passkeys, bend: dict[str, Any]) -> None:
    phone = await enrolled(pk)
    with pytest.raises(PasskeyRejected):
        await passwordless(pk, phone, **bend)
    assert (await pk.manage.list("u1"))[0].last_used_at is None
    assert (await pk.audit_events("passkey.assertion_failed"))[-1]["subject"] == "u1"
    assert (await passwordless(pk, phone)).user.id == "u1"  # the passkey itself still works


@pytest.mark.sec("SEC-51")
async def test_a_challenge_works_once_and_not_after_it_expires(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    options = await pk.authenticator.passwordless_options(NONCE)
    signed = phone.get(options)
    await pk.authenticator.verify_passwordless(signed, NONCE, META)
    with pytest.raises(PasskeyChallengeInvalid):
        await pk.authenticator.verify_passwordless(signed, NONCE, META)
    with pytest.raises(PasskeyChallengeInvalid):  # a fresh signature over the used challenge
        await pk.authenticator.verify_passwordless(phone.get(options), NONCE, META)
    options = await pk.authenticator.passwordless_options(NONCE)
    pk.clock.advance(301)
    with pytest.raises(PasskeyChallengeInvalid):
        await pk.authenticator.verify_passwordless(phone.get(options), NONCE, META)


@pytest.mark.sec("SEC-51")
async def test_the_challenge_is_bound_to_the_browser_that_asked(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    for other in (random_token(32), None):
        with pytest.raises(PasskeyChallengeInvalid):
            await passwordless(pk, phone, nonce=other)  # type: ignore[arg-type]


@pytest.mark.sec("SEC-51")
async def test_a_challenge_of_another_ceremony_is_refused(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    started = await pk.login.begin(await pk.user("u1"), META, purpose="session")
    challenge = await pk.login.challenge(started.token, purpose="session")
    options = await pk.authenticator.second_factor_options("u1", challenge.digest)
    with pytest.raises(PasskeyChallengeInvalid):
        await pk.authenticator.verify_passwordless(phone.get(options), NONCE, META)


@pytest.mark.sec("SEC-51")
async def test_a_counter_that_does_not_grow_is_a_clone_refused_and_audited(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    await passwordless(pk, phone)
    await passwordless(pk, phone)  # the stored counter is now 2
    for stale in (2, 1, 0):
        with pytest.raises(PasskeyRejected):
            await passwordless(pk, phone, sign_count=stale)
    events = await pk.audit_events("passkey.sign_count_regression")
    assert [(e["details"]["stored"], e["details"]["presented"]) for e in events] == [(2, 2), (2, 1), (2, 0)]
    assert events[0]["outcome"] == "failure" and events[0]["subject"] == "u1"
    assert (await pk.manage.list("u1"))[0].sign_count == 2
    await passwordless(pk, phone, sign_count=3)


async def test_authenticators_without_a_counter_send_zero_every_time(pk: Passkeys) -> None:
    phone = await enrolled(pk, counter_step=0)
    for _ in range(3):
        assert (await passwordless(pk, phone)).user.id == "u1"
    assert await pk.audit_events("passkey.sign_count_regression") == []


@pytest.mark.sec("SEC-51")
async def test_a_removed_passkey_no_longer_signs_in(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    passkey = (await pk.manage.list("u1"))[0]
    await pk.manage.remove(await pk.user("u1"), pk.principal("u1", amr=("hwk", "user")), passkey.id, META)
    with pytest.raises(PasskeyRejected):
        await passwordless(pk, phone)
    reasons = [e["details"]["reason"] for e in await pk.audit_events("passkey.assertion_failed")]
    assert reasons == ["unknown_credential"]


@pytest.mark.sec("SEC-51")
async def test_a_security_key_registered_for_the_second_step_cannot_sign_in_alone(pk: Passkeys) -> None:
    key = device()
    await pk.register(key, "u1", passwordless=False)
    key.credentials[0].resident = True  # even if the authenticator offers it and names the user
    with pytest.raises(PasskeyRejected):
        await passwordless(pk, key)


async def test_a_disabled_user_cannot_sign_in_with_a_passkey(pk: Passkeys) -> None:
    phone = await enrolled(pk)
    await pk.users.update("u1", disabled=True)
    with pytest.raises(PasskeyRejected):
        await passwordless(pk, phone)


@pytest.mark.parametrize(
    "garbage",
    [None, {}, {"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}, {"rawId": 5}],
)
async def test_malformed_assertions_are_refused_not_crashed(pk: Passkeys, garbage: object) -> None:
    await enrolled(pk)
    await pk.authenticator.passwordless_options(NONCE)
    with pytest.raises((PasskeyRejected, PasskeyChallengeInvalid)):
        await pk.authenticator.verify_passwordless(garbage, NONCE, META)  # type: ignore[arg-type]
