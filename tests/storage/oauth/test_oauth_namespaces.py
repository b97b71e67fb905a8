"""SEC-75: single-use kinds are namespaced. One digest used as an authorization code, a device code,
a user code, an opaque token and a grant id at once: each store's operations touch only its own kind."""

from __future__ import annotations

import pytest
from oauth_store_backends import Backend
from test_oauth_code_store import make_store as code_store
from test_oauth_code_store import record as code_record
from test_oauth_device_store import make_store as device_store
from test_oauth_grant_stores import revoked_store, token, token_store

from ostiary.storage.interfaces.oauth_device import DeviceAuthorization

SAME = "5" * 64


@pytest.mark.sec("SEC-75")
async def test_one_digest_in_every_kind_stays_separate(backend: Backend) -> None:
    now = backend.clock.now()
    codes, devices, tokens, revoked = (
        code_store(backend),
        device_store(backend),
        token_store(backend),
        revoked_store(backend),
    )
    await codes.save(SAME, code_record(now, grant_id=SAME))
    device = DeviceAuthorization(SAME, SAME, "tv", ("openid",), SAME, now, now + 600, 5)
    await devices.save(device)
    await tokens.save(token(SAME, now, grant_id=SAME))

    # Redeeming the code neither redeems nor deletes the device authorization or the token.
    assert (await codes.consume(SAME)) is not None
    assert await devices.get_by_user_code(SAME) == device
    assert await devices.consume(SAME) is None  # still pending: the code's redemption is not an approval
    assert await tokens.get(SAME) is not None

    # A device redemption cannot take the (already redeemed) code's place, nor its remembered grant.
    await devices.decide(SAME, approve=True, user_id="u1", auth_time=now, amr=(), scope=(), now=now)
    assert (await devices.consume(SAME)) is not None
    assert await codes.get_redeemed(SAME) == SAME
    assert await codes.consume(SAME) is None

    # Revoking a grant by that id (both ways) leaves the other kinds alone, and vice versa.
    await revoked.revoke(SAME, at=now, remember_until=now + 60)
    assert await tokens.get(SAME) is not None
    assert await tokens.revoke(SAME) is True
    assert await revoked.is_revoked(SAME) is True
    assert await codes.get_redeemed(SAME) == SAME
