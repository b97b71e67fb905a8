"""RFC 9700 §4.14.2: the refresh-token engine over the memory store (SEC-11, SEC-35, SEC-40, SEC-74)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ostiary.authn.audit import Auditor
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.interfaces.audit import AuditEvent
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokenStore
from ostiary.tokens.refresh import (
    TOKEN_PREFIX,
    InvalidGrant,
    RefreshConfig,
    RefreshTokens,
    digest_of,
    new_token_value,
)

META = RequestMeta(ip="127.0.0.1", user_agent="test")


class ListAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def query(self, **_: Any) -> list[AuditEvent]:
        return list(self.events)

    def names(self) -> list[str]:
        return [e.event for e in self.events]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def audit() -> ListAudit:
    return ListAudit()


@pytest.fixture
def store() -> MemoryRefreshTokenStore:
    return MemoryRefreshTokenStore()


@pytest.fixture
def engine(store: MemoryRefreshTokenStore, clock: FrozenClock, audit: ListAudit) -> RefreshTokens:
    config = RefreshConfig(idle_seconds=3600, absolute_seconds=7200, retry_window=10, access_ttl=600)
    return RefreshTokens(store, InstanceSecret(b"k" * 32), clock, Auditor(audit, clock), config)  # type: ignore[arg-type]


async def start(engine: RefreshTokens) -> str:
    value, _ = await engine.start("u1", "ostiary", "phone", "docs:read", auth_time=0)
    return value


@pytest.mark.sec("SEC-40")
def test_values_are_256_bit_prefixed_and_unique() -> None:
    values = {new_token_value() for _ in range(10_000)}
    assert len(values) == 10_000
    assert all(v.startswith(TOKEN_PREFIX) and len(v) == len(TOKEN_PREFIX) + 43 for v in values)


async def test_stored_by_digest_only(engine: RefreshTokens, store: MemoryRefreshTokenStore) -> None:
    value = await start(engine)
    assert (await store.get(value)) is None
    assert (await store.get(digest_of(value))) is not None


@pytest.mark.sec("SEC-35")
async def test_rotation_then_replay_outside_window_revokes_family(
    engine: RefreshTokens, clock: FrozenClock, audit: ListAudit
) -> None:
    rt1 = await start(engine)
    rt2 = (await engine.redeem(rt1, client_id="ostiary", meta=META)).refresh_token
    assert rt2 != rt1
    clock.advance(11)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt1, client_id="ostiary", meta=META)
    assert "token.reuse_detected" in audit.names()
    with pytest.raises(InvalidGrant):  # RT2 died with its family
        await engine.redeem(rt2, client_id="ostiary", meta=META)


@pytest.mark.sec("SEC-74")
async def test_retry_inside_window_returns_the_same_successor(
    engine: RefreshTokens, clock: FrozenClock
) -> None:
    rt1 = await start(engine)
    first = await engine.redeem(rt1, client_id="ostiary", meta=META)
    clock.advance(9)
    again = await engine.redeem(rt1, client_id="ostiary", meta=META)
    assert again.replayed
    assert again.refresh_token == first.refresh_token
    rt3 = await engine.redeem(first.refresh_token, client_id="ostiary", meta=META)
    assert not rt3.replayed


@pytest.mark.sec("SEC-74")
async def test_only_the_newest_rotation_is_replayable(engine: RefreshTokens, clock: FrozenClock) -> None:
    """django-oauth-toolkit#1617: a token two generations old is theft even inside the window."""
    rt1 = await start(engine)
    rt2 = (await engine.redeem(rt1, client_id="ostiary", meta=META)).refresh_token
    rt3 = (await engine.redeem(rt2, client_id="ostiary", meta=META)).refresh_token
    clock.advance(1)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt1, client_id="ostiary", meta=META)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt3, client_id="ostiary", meta=META)


@pytest.mark.sec("SEC-74")
async def test_parallel_redeems_share_one_successor(
    engine: RefreshTokens, store: MemoryRefreshTokenStore
) -> None:
    rt1 = await start(engine)
    barrier = asyncio.Barrier(20)

    async def go() -> str:
        await barrier.wait()
        return (await engine.redeem(rt1, client_id="ostiary", meta=META)).refresh_token

    results = await asyncio.gather(*(go() for _ in range(20)))
    assert len(set(results)) == 1
    live = [t for t in store._tokens.values() if t.state == "active"]
    assert len(live) == 1


@pytest.mark.sec("SEC-35")
async def test_other_client_is_refused_without_revoking(engine: RefreshTokens) -> None:
    rt1 = await start(engine)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt1, client_id="other", meta=META)
    await engine.redeem(rt1, client_id="ostiary", meta=META)


@pytest.mark.sec("SEC-11")
async def test_absolute_and_idle_expiry(engine: RefreshTokens, clock: FrozenClock) -> None:
    rt = await start(engine)
    for _ in range(3):  # keep using it: the sliding expiry moves, the absolute one does not
        clock.advance(2000)
        rt = (await engine.redeem(rt, client_id="ostiary", meta=META)).refresh_token
    clock.advance(1300)  # 7300 s after the login: past the 7200 s absolute lifetime
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt, client_id="ostiary", meta=META)
    idle = await start(engine)
    clock.advance(3600)
    with pytest.raises(InvalidGrant):
        await engine.redeem(idle, client_id="ostiary", meta=META)


async def test_early_refresh_is_audited(engine: RefreshTokens, clock: FrozenClock, audit: ListAudit) -> None:
    rt = await start(engine)
    clock.advance(100)
    rotation = await engine.redeem(rt, client_id="ostiary", meta=META)
    assert rotation.early
    assert audit.names().count("token.refresh_early") == 1
    clock.advance(590)  # within the last minute of the access token: normal
    assert not (await engine.redeem(rotation.refresh_token, client_id="ostiary", meta=META)).early


async def test_garbage_and_revoke(engine: RefreshTokens) -> None:
    for bad in ("", "x", TOKEN_PREFIX + "A" * 500, "ort_unknown"):
        with pytest.raises(InvalidGrant):
            await engine.redeem(bad, client_id="ostiary", meta=META)
    rt = await start(engine)
    assert await engine.revoke("ort_unknown", META) is None
    assert await engine.revoke(rt, META) == "u1"
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt, client_id="ostiary", meta=META)


async def test_sealed_successor_is_bound_to_its_row(engine: RefreshTokens) -> None:
    blob = engine._seal("ort_value", parent="a" * 64)
    assert engine._open(blob, parent="a" * 64) == "ort_value"
    assert engine._open(blob, parent="b" * 64) is None
    assert b"ort_value" not in blob
