"""authn/mfa_login.py: the challenge between password and second factor (SEC-47..49)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from mfa_unit_support import Mfa, wrong_code
from sqlalchemy import select

from ostiary.authn.mfa_login import InvalidSecondFactor, MfaChallengeInvalid
from ostiary.authn.mfa_throttle import MfaLocked
from ostiary.authn.totp import PERIOD, code_at, step_at
from ostiary.core.context import RequestMeta
from ostiary.core.errors import ValidationFailed
from ostiary.core.secrets import sha256_hex
from ostiary.storage.interfaces.users import UserRecord
from ostiary.storage.sqlalchemy import tables as t

META = RequestMeta(ip="192.0.2.1", user_agent="test")


async def with_mfa(mfa: Mfa, user_id: str = "u1") -> tuple[UserRecord, bytes, list[str]]:
    enrollment = await mfa.totp.begin(user_id, user_id)
    seed = base64.b32decode(enrollment.secret + "=" * (-len(enrollment.secret) % 8))
    codes, digests = mfa.recovery.new_set(user_id)
    assert await mfa.totp.activate(user_id, code_at(seed, step_at(mfa.clock.now())), digests)
    mfa.clock.advance(PERIOD)
    user = await mfa.users.get(user_id)
    assert user is not None and user.mfa_enabled
    return user, seed, codes


def now_code(mfa: Mfa, seed: bytes) -> str:
    return code_at(seed, step_at(mfa.clock.now()))


@pytest.mark.sec("SEC-49")
async def test_a_challenge_is_opaque_short_lived_single_purpose_and_stored_by_digest(mfa: Mfa) -> None:
    user, seed, _ = await with_mfa(mfa)
    started = await mfa.login.begin(user, META, purpose="session")
    assert started.expires_in == 300
    assert started.methods == ("totp", "recovery_code")
    assert len(started.token) >= 43
    async with mfa.db.read() as conn:
        rows = (await conn.execute(select(t.mfa_challenges))).mappings().all()
    assert [r["digest"] for r in rows] == [sha256_hex(started.token)]
    assert started.token not in repr(rows)
    with pytest.raises(MfaChallengeInvalid):
        await mfa.login.complete(started.token, META, purpose="token", code=now_code(mfa, seed))
    done = await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))
    assert done.user.id == user.id
    assert done.amr == ("pwd", "otp")
    assert done.method == "totp"
    # Consumed: the same challenge cannot finish a second login, even with a fresh code.
    mfa.clock.advance(PERIOD)
    with pytest.raises(MfaChallengeInvalid):
        await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))


@pytest.mark.sec("SEC-49")
async def test_a_challenge_expires_after_five_minutes(mfa: Mfa) -> None:
    user, seed, _ = await with_mfa(mfa)
    started = await mfa.login.begin(user, META, purpose="token")
    mfa.clock.advance(301)
    with pytest.raises(MfaChallengeInvalid):
        await mfa.login.complete(started.token, META, purpose="token", code=now_code(mfa, seed))
    for forged in ("", "x" * 129, "not-a-challenge"):
        with pytest.raises(MfaChallengeInvalid):
            await mfa.login.complete(forged, META, purpose="token", code=now_code(mfa, seed))


async def test_exactly_one_factor_per_attempt(mfa: Mfa) -> None:
    user, seed, codes = await with_mfa(mfa)
    started = await mfa.login.begin(user, META, purpose="session")
    with pytest.raises(ValidationFailed):
        await mfa.login.complete(started.token, META, purpose="session")
    with pytest.raises(ValidationFailed):
        await mfa.login.complete(
            started.token, META, purpose="session", code=now_code(mfa, seed), recovery_code=codes[0]
        )
    state = await mfa.throttle.state(user.id)
    assert state is None  # malformed requests are refused before anything is counted


async def test_a_recovery_code_finishes_the_login_once(mfa: Mfa) -> None:
    user, _, codes = await with_mfa(mfa)
    first = await mfa.login.begin(user, META, purpose="session")
    done = await mfa.login.complete(first.token, META, purpose="session", recovery_code=codes[3])
    assert done.amr == ("pwd", "recovery")
    assert done.method == "recovery_code"
    second = await mfa.login.begin(user, META, purpose="session")
    with pytest.raises(InvalidSecondFactor):
        await mfa.login.complete(second.token, META, purpose="session", recovery_code=codes[3])
    assert await mfa.recovery.remaining(user.id) == 9


@pytest.mark.sec("SEC-48")
async def test_wrong_codes_lock_the_factor_across_new_challenges(mfa: Mfa) -> None:
    user, seed, codes = await with_mfa(mfa)
    for attempt in range(5):
        started = await mfa.login.begin(user, META, purpose="session")  # a new login each time
        wrong = wrong_code(seed, mfa.clock.now())
        factor = {"code": wrong} if attempt % 2 else {"recovery_code": "aaaa-bbbb-cccc"}
        with pytest.raises(InvalidSecondFactor):
            await mfa.login.complete(started.token, META, purpose="session", **factor)
    started = await mfa.login.begin(user, META, purpose="session")
    with pytest.raises(MfaLocked):
        await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))
    with pytest.raises(MfaLocked):
        await mfa.login.complete(started.token, META, purpose="session", recovery_code=codes[0])
    mfa.clock.advance(300)
    started = await mfa.login.begin(user, META, purpose="session")  # the old one expired meanwhile
    done = await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))
    assert done.user.id == user.id
    assert await mfa.throttle.state(user.id) is None


@pytest.mark.sec("SEC-49")
async def test_turning_mfa_off_or_disabling_the_user_ends_pending_challenges(mfa: Mfa) -> None:
    user, seed, _ = await with_mfa(mfa)
    started = await mfa.login.begin(user, META, purpose="session")
    await mfa.users.update(user.id, disabled=True)
    with pytest.raises(MfaChallengeInvalid):
        await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))
    await mfa.users.update(user.id, disabled=False)
    started = await mfa.login.begin(user, META, purpose="session")
    await mfa.totp.remove(user.id)
    with pytest.raises(MfaChallengeInvalid):
        await mfa.login.complete(started.token, META, purpose="session", code=now_code(mfa, seed))


@pytest.mark.sec("SEC-47")
@pytest.mark.sec("SEC-49")
async def test_one_challenge_finished_five_times_at_once_makes_one_login(mfa: Mfa) -> None:
    user, _, codes = await with_mfa(mfa)
    started = await mfa.login.begin(user, META, purpose="session")
    gate = asyncio.Barrier(5)

    async def finish(code: str) -> bool:
        await gate.wait()
        try:
            await mfa.login.complete(started.token, META, purpose="session", recovery_code=code)
        except MfaChallengeInvalid:
            return False
        return True

    results = await asyncio.gather(*(finish(c) for c in codes[:5]))
    assert results.count(True) == 1
