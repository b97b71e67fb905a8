"""authn/mfa.py: a user's own second factors need a recent authentication (SEC-14, SEC-50)."""

from __future__ import annotations

import base64

import pytest
from mfa_unit_support import Mfa

from ostiary.authn.mfa import require_recent_auth
from ostiary.authn.totp import code_at, step_at
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Conflict, Forbidden, ReauthRequired, ValidationFailed
from ostiary.core.principal import Principal

META = RequestMeta()


def principal(mfa: Mfa, *, age: float = 0, amr: tuple[str, ...] = ("pwd",), **kw: object) -> Principal:
    values: dict[str, object] = {"subject": "u1", "kind": "user", "method": "session"}
    values.update(kw)
    return Principal(auth_time=mfa.clock.now() - age, amr=amr, **values)  # type: ignore[arg-type]


@pytest.mark.sec("SEC-14")
async def test_changes_need_an_authentication_within_the_window(mfa: Mfa) -> None:
    now = mfa.clock.now()
    require_recent_auth(principal(mfa, age=600), now, 600)
    with pytest.raises(ReauthRequired) as stale:
        require_recent_auth(principal(mfa, age=601), now, 600)
    assert stale.value.status == 401 and stale.value.code == "reauth_required"
    with pytest.raises(ReauthRequired):
        require_recent_auth(Principal("u1", "user", "bearer"), now, 600)  # no auth_time: never recent
    with pytest.raises(ReauthRequired):
        require_recent_auth(principal(mfa, age=-5), now, 600)  # from the future: not trusted
    with pytest.raises(Forbidden):
        require_recent_auth(principal(mfa, kind="client", method="bearer"), now, 600)
    with pytest.raises(Forbidden):
        require_recent_auth(principal(mfa, method="api_key"), now, 600)


@pytest.mark.sec("SEC-14")
@pytest.mark.sec("SEC-50")
async def test_enroll_confirm_regenerate_disable(mfa: Mfa) -> None:
    user = await mfa.users.get("u1")
    assert user is not None
    with pytest.raises(ReauthRequired):
        await mfa.manage.start_totp(user, principal(mfa, age=601), META)
    enrollment = await mfa.manage.start_totp(user, principal(mfa), META)
    assert (await mfa.manage.status(user)).totp_pending
    seed = base64.b32decode(enrollment.secret + "=" * (-len(enrollment.secret) % 8))
    with pytest.raises(ValidationFailed):
        await mfa.manage.confirm_totp(user, "12", META)
    codes = await mfa.manage.confirm_totp(user, code_at(seed, step_at(mfa.clock.now())), META)
    assert len(codes) == 10
    user = await mfa.users.get("u1")
    assert user is not None and user.mfa_enabled
    status = await mfa.manage.status(user)
    assert (status.enabled, status.totp_active, status.totp_pending, status.recovery_codes_left) == (
        True,
        True,
        False,
        10,
    )
    # Removing or renewing the factor: recent, and by a login that used a second factor.
    for action in (mfa.manage.regenerate_recovery_codes, mfa.manage.disable_totp):
        with pytest.raises(ReauthRequired):
            await action(user, principal(mfa), META)
        with pytest.raises(ReauthRequired):
            await action(user, principal(mfa, age=601, amr=("pwd", "otp")), META)
    fresh = await mfa.manage.regenerate_recovery_codes(user, principal(mfa, amr=("pwd", "otp")), META)
    assert not set(fresh) & set(codes)
    assert await mfa.manage.disable_totp(user, principal(mfa, amr=("pwd", "recovery")), META)
    user = await mfa.users.get("u1")
    assert user is not None and not user.mfa_enabled
    assert (await mfa.manage.status(user)).recovery_codes_left == 0
    with pytest.raises(Conflict):
        await mfa.manage.regenerate_recovery_codes(user, principal(mfa, amr=("pwd", "otp")), META)
    assert not await mfa.manage.disable_totp(user, principal(mfa), META)
