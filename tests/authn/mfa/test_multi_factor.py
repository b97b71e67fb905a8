"""`is_multi_factor`: the one definition of "this login verified a second factor", and the ABAC
`subject.mfa` attribute the policy engine sees (web/authorization.py) for the amr ostiary's logins
actually write (docs/mfa.md, docs/passkeys.md, docs/email.md)."""

from __future__ import annotations

import pytest

from ostiary.authn.mfa import is_multi_factor
from ostiary.authn.principals import Authenticated
from ostiary.core.principal import Principal
from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.authorization import _attributes

LOGINS = [
    (("pwd",), False),  # password only
    (("pwd", "otp"), True),  # password, then TOTP
    (("pwd", "recovery"), True),  # password, then a recovery code
    (("pwd", "hwk", "user"), True),  # password, then a passkey that verified the user
    (("pwd", "hwk"), True),  # password, then a security key (presence only)
    (("pwd", "swk", "user"), True),  # password, then a synced passkey
    (("hwk", "user"), True),  # passwordless passkey: possession plus the device's PIN or biometric
    (("swk", "user"), True),
    (("hwk",), False),  # a key alone, without user verification
    (("email",), False),  # a magic link is one factor
    (("email", "otp"), True),  # magic link, then TOTP
    (("mfa",), True),  # an upstream that says so outright (RFC 8176 "mfa")
    (("pwd", "user"), False),  # no second-factor authenticator among them
    ((), False),  # tokens and keys without amr
]


@pytest.mark.parametrize(("amr", "expected"), LOGINS)
def test_a_login_is_multi_factor_when_it_verified_a_second_factor(
    amr: tuple[str, ...], expected: bool
) -> None:
    assert is_multi_factor(amr) is expected


@pytest.mark.parametrize(("amr", "expected"), LOGINS)
def test_the_abac_subject_carries_it_as_mfa(amr: tuple[str, ...], expected: bool) -> None:
    user = UserRecord(
        "u1", "alice", None, None, disabled=False, mfa_enabled=True, created_at=0.0, updated_at=0.0
    )
    principal = Principal(subject="u1", kind="user", method="session", username="alice", amr=amr)
    assert _attributes(Authenticated(user, principal))["mfa"] is expected
