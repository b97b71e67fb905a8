"""Registering a passkey (W3C WebAuthn L2 §7.1): options, the checks of the attestation, one account
per credential id, and the first passkey turning two-step login on (SEC-14, SEC-51)."""

from __future__ import annotations

import pytest
from passkey_unit_support import META, RP_ID, Passkeys, device
from soft_authenticator import unb64url

from ostiary.authn.passkeys_ceremony import PasskeyChallengeInvalid, PasskeyConfig, PasskeyInvalid
from ostiary.core.errors import Conflict, Forbidden, ReauthRequired, ValidationFailed
from ostiary.core.principal import Principal


async def test_options_ask_for_a_discoverable_verified_passkey_of_this_rp(pk: Passkeys) -> None:
    user = await pk.user("u1")
    options = await pk.manage.registration_options(user, pk.principal("u1"), META)
    assert options["rp"] == {"id": RP_ID, "name": "ostiary-test"}
    assert options["user"]["name"] == "user-u1"
    handle = unb64url(options["user"]["id"])
    assert len(handle) == 32 and b"u1" not in handle  # opaque, as §14.6.1 asks
    again = await pk.manage.registration_options(user, pk.principal("u1"), META)
    assert again["user"]["id"] == options["user"]["id"]  # stable: one passkey per account and device
    assert again["challenge"] != options["challenge"]
    assert len(unb64url(options["challenge"])) == 32
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert options["timeout"] == 300_000


async def test_security_key_options_ask_for_neither_resident_key_nor_verification(pk: Passkeys) -> None:
    user = await pk.user("u1")
    options = await pk.manage.registration_options(user, pk.principal("u1"), META, passwordless=False)
    assert options["authenticatorSelection"]["residentKey"] == "discouraged"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"


@pytest.mark.sec("SEC-14")
async def test_registration_needs_a_recent_login_of_the_user_itself(pk: Passkeys) -> None:
    user = await pk.user("u1")
    with pytest.raises(ReauthRequired):
        await pk.manage.registration_options(user, pk.principal("u1", age=601), META)
    key_caller = Principal(subject="u1", kind="user", method="api_key", auth_time=pk.clock.now())
    with pytest.raises(Forbidden):
        await pk.manage.registration_options(user, key_caller, META)
    await pk.manage.registration_options(user, pk.principal("u1", age=599), META)


async def test_the_first_passkey_turns_two_step_login_on_with_recovery_codes(pk: Passkeys) -> None:
    phone = device()
    assert not (await pk.user("u1")).mfa_enabled
    first = await pk.register(phone, "u1")
    assert first.mfa_turned_on
    assert first.recovery_codes is not None and len(first.recovery_codes) == 10
    assert (await pk.user("u1")).mfa_enabled
    assert await pk.recovery.remaining("u1") == 10
    assert first.passkey.name == "Passkey"
    assert first.passkey.discoverable and first.passkey.transports == ("internal",)
    assert first.passkey.credential_id == phone.credentials[0].credential_id
    pk.clock.advance(1)
    second = await pk.register(device(), "u1")
    assert not second.mfa_turned_on and second.recovery_codes is None
    assert await pk.recovery.remaining("u1") == 10  # the codes shown first stay valid
    assert [p.id for p in await pk.manage.list("u1")] == [first.passkey.id, second.passkey.id]
    assert len(await pk.audit_events("passkey.registered")) == 2


async def test_a_security_key_is_stored_as_not_discoverable_and_needs_no_verification(pk: Passkeys) -> None:
    done = await pk.register(device(), "u1", passwordless=False, user_verified=False)
    assert not done.passkey.discoverable
    assert done.passkey.name == "Security key"


@pytest.mark.sec("SEC-51")
async def test_options_exclude_the_users_credentials(pk: Passkeys) -> None:
    phone = device()
    await pk.register(phone, "u1")
    options = await pk.manage.registration_options(await pk.user("u1"), pk.principal("u1"), META)
    assert [unb64url(c["id"]) for c in options["excludeCredentials"]] == [phone.credentials[0].credential_id]


@pytest.mark.sec("SEC-51")
async def test_a_credential_id_bound_to_another_user_is_refused(pk: Passkeys) -> None:
    shared_id = b"\x07" * 32
    await pk.register(device(), "u1", credential_id=shared_id)
    with pytest.raises(Conflict) as caught:
        await pk.register(device(), "u2", credential_id=shared_id)
    assert caught.value.code == "passkey_exists"
    assert await pk.manage.list("u2") == []
    assert not (await pk.user("u2")).mfa_enabled
    assert len(await pk.audit_events("passkey.register_failed")) == 1


@pytest.mark.sec("SEC-51")
@pytest.mark.parametrize(
    "bend",
    [
        {"origin": "http://localhost:8001"},
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"ceremony": "webauthn.get"},
        {"user_present": False},
        {"user_verified": False},  # a passkey (passwordless) must verify the user
    ],
    ids=["other-port", "other-origin", "rp-id-hash", "type", "no-up", "no-uv"],
)
async def test_a_registration_that_fails_a_check_is_refused(pk: Passkeys, bend: dict[str, object]) -> None:
    with pytest.raises(PasskeyInvalid):
        await pk.register(device(), "u1", **bend)
    assert await pk.manage.list("u1") == []
    assert not (await pk.user("u1")).mfa_enabled


@pytest.mark.sec("SEC-51")
async def test_a_registration_challenge_works_once_for_its_user_and_not_after_it_expires(
    pk: Passkeys,
) -> None:
    user = await pk.user("u1")
    phone = device()
    options = await pk.manage.registration_options(user, pk.principal("u1"), META)
    made = phone.create(options)
    await pk.manage.register(user, made, META)
    with pytest.raises(PasskeyChallengeInvalid):
        await pk.manage.register(user, phone.create(options), META)  # the same challenge again
    options = await pk.manage.registration_options(user, pk.principal("u1"), META)
    with pytest.raises(PasskeyChallengeInvalid):  # u1's challenge, u2's registration
        await pk.manage.register(await pk.user("u2"), device().create(options), META)
    options = await pk.manage.registration_options(user, pk.principal("u1"), META)
    pk.clock.advance(301)
    with pytest.raises(PasskeyChallengeInvalid):
        await pk.manage.register(user, device().create(options), META)
    assert len(await pk.manage.list("u1")) == 1


@pytest.mark.parametrize("garbage", [None, {}, {"id": "x"}, {"id": "AA", "rawId": "AA", "response": {}}])
async def test_malformed_credentials_are_a_clear_400(pk: Passkeys, garbage: object) -> None:
    with pytest.raises(PasskeyInvalid) as caught:
        await pk.manage.register(await pk.user("u1"), garbage, META)  # type: ignore[arg-type]
    assert caught.value.status == 400


async def test_names_are_trimmed_and_bounded(pk: Passkeys) -> None:
    user = await pk.user("u1")
    options = await pk.manage.registration_options(user, pk.principal("u1"), META)
    with pytest.raises(ValidationFailed):
        await pk.manage.register(user, device().create(options), META, name="x" * 65)
    with pytest.raises(ValidationFailed):
        await pk.manage.register(user, device().create(options), META, name="bad\x00name")
    done = await pk.manage.register(user, device().create(options), META, name="  Work   laptop ")
    assert done.passkey.name == "Work laptop"


def test_the_relying_party_is_the_issuer() -> None:
    config = PasskeyConfig.for_issuer("https://ID.Example.com:8443", "x")
    assert (config.rp_id, config.origin) == ("id.example.com", "https://id.example.com:8443")
    for ip_issuer in ("http://127.0.0.1:8000", "http://[::1]:8000", "https://10.0.0.1"):
        with pytest.raises(ValueError):
            PasskeyConfig.for_issuer(ip_issuer, "x")
