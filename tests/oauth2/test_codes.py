"""RFC 6749 §4.1.2: authorization codes and their store (SEC-29, SEC-40, SEC-75)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.codes import AuthorizationCodeIssuer, code_digest
from ostiary.storage.interfaces.oauth_codes import REDEEMED_MEMORY_SECONDS
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore


async def issue(issuer: AuthorizationCodeIssuer) -> str:
    issued = await issuer.issue(
        client_id="web-app",
        user_id="u1",
        redirect_uri="https://app.example.com/cb",
        redirect_uri_provided=True,
        scope=("openid",),
        code_challenge="c" * 43,
        code_challenge_method="S256",
        auth_time=0.0,
    )
    return issued.code


@pytest.mark.sec("SEC-40")
async def test_codes_have_256_bits_and_do_not_collide(code_issuer: AuthorizationCodeIssuer) -> None:
    codes = {await issue(code_issuer) for _ in range(10_000)}
    assert len(codes) == 10_000
    assert all(len(base64.urlsafe_b64decode(c + "=")) == 32 for c in list(codes)[:10])


async def test_only_the_digest_is_stored(
    code_issuer: AuthorizationCodeIssuer, code_store: MemoryAuthorizationCodeStore
) -> None:
    code = await issue(code_issuer)
    assert code not in code_store._live
    assert code_digest(code) in code_store._live


@pytest.mark.sec("SEC-75")
@pytest.mark.rfc("RFC 6749 §4.1.2")
async def test_twenty_concurrent_consumes_have_one_winner(
    code_issuer: AuthorizationCodeIssuer, code_store: MemoryAuthorizationCodeStore
) -> None:
    digest = code_digest(await issue(code_issuer))
    results = await asyncio.gather(*(code_store.consume(digest) for _ in range(20)))
    assert sum(r is not None for r in results) == 1


@pytest.mark.sec("SEC-29")
async def test_a_consumed_code_is_remembered_with_its_grant(
    code_issuer: AuthorizationCodeIssuer, code_store: MemoryAuthorizationCodeStore, clock: FrozenClock
) -> None:
    digest = code_digest(await issue(code_issuer))
    assert await code_store.get_redeemed(digest) is None
    record = await code_store.consume(digest)
    assert record is not None
    assert await code_store.get_redeemed(digest) == record.grant_id
    assert await code_store.get_redeemed(code_digest("never-issued")) is None
    clock.advance(60 + REDEEMED_MEMORY_SECONDS - 1)
    await issue(code_issuer)  # triggers the lazy purge
    assert await code_store.get_redeemed(digest) == record.grant_id
    clock.advance(2)
    await issue(code_issuer)
    assert await code_store.get_redeemed(digest) is None


def test_lifetime_is_capped(code_store: MemoryAuthorizationCodeStore, clock: FrozenClock) -> None:
    with pytest.raises(ValueError):
        AuthorizationCodeIssuer(code_store, clock, ttl=601)
    with pytest.raises(ValueError):
        AuthorizationCodeIssuer(code_store, clock, ttl=0)
