"""The refresh-token engine's read without spending (`peek`), per-client lifetimes capped by the
server's, and the family-revocation hook the OAuth side listens to (SEC-11, SEC-12, SEC-35)."""

from __future__ import annotations

import pytest

from oauth_world import ListAudit
from ostiary.authn.audit import Auditor
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokenStore
from ostiary.tokens.refresh import InvalidGrant, RefreshConfig, RefreshTokens, digest_of

META = RequestMeta(ip="127.0.0.1", user_agent="test")
NOW = 1_800_000_000.0


class Told:
    """A real `on_family_revoked` listener: records what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, family_id: str, reason: str) -> None:
        self.calls.append((family_id, reason))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def store() -> MemoryRefreshTokenStore:
    return MemoryRefreshTokenStore()


@pytest.fixture
def engine(store: MemoryRefreshTokenStore, clock: FrozenClock, told: Told) -> RefreshTokens:
    config = RefreshConfig(idle_seconds=3600, absolute_seconds=7200, retry_window=10, access_ttl=600)
    return RefreshTokens(
        store, InstanceSecret(b"k" * 32), clock, Auditor(ListAudit(), clock), config, on_family_revoked=told
    )


async def start(engine: RefreshTokens, family_id: str = "g1", **lifetimes: float) -> str:
    value, _ = await engine.start(
        "u1", "app", "phone", "openid docs:read", NOW, family_id=family_id, **lifetimes
    )
    return value


# ------------------------------------------------------------------------------------------- peek


async def test_peek_shows_the_family_without_spending_the_token(engine: RefreshTokens) -> None:
    rt = await start(engine)
    for _ in range(3):
        family = await engine.peek(rt, client_id="app")
        assert family is not None and (family.id, family.scope) == ("g1", "openid docs:read")
    rotation = await engine.redeem(rt, client_id="app", meta=META)
    assert not rotation.replayed  # peeking neither rotated nor touched it


@pytest.mark.sec("SEC-35")
async def test_peek_shows_nothing_redeem_would_refuse_or_must_judge(
    engine: RefreshTokens, clock: FrozenClock, told: Told
) -> None:
    rt1 = await start(engine)
    assert await engine.peek(rt1, client_id="other") is None  # another client's
    for garbage in ("", "ort_unknown", "nope", "ort_" + "A" * 200):
        assert await engine.peek(garbage, client_id="app") is None
    rt2 = (await engine.redeem(rt1, client_id="app", meta=META)).refresh_token
    assert await engine.peek(rt1, client_id="app") is None  # rotated: a replay or a theft, redeem decides
    assert told.calls == []  # ... and peeking at it is not taken for reuse
    assert await engine.peek(rt2, client_id="app") is not None
    clock.advance(3600)  # idle too long
    assert await engine.peek(rt2, client_id="app") is None
    rt3 = await start(engine, "g2")
    await engine.revoke_family("g2", reason="logout")
    assert await engine.peek(rt3, client_id="app") is None


# ------------------------------------------------------------------------------------ lifetimes


@pytest.mark.sec("SEC-11")
async def test_a_client_may_ask_for_shorter_lifetimes(
    engine: RefreshTokens, store: MemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    rt = await start(engine, absolute_seconds=1000, idle_seconds=300)
    found = await store.get(digest_of(rt))
    assert found is not None
    assert (found[1].expires_at, found[0].expires_at) == (NOW + 1000, NOW + 300)
    clock.advance(250)
    rt = (await engine.redeem(rt, client_id="app", meta=META, idle_seconds=300)).refresh_token
    successor = await store.get(digest_of(rt))
    assert successor is not None and successor[0].expires_at == NOW + 250 + 300
    clock.advance(301)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt, client_id="app", meta=META, idle_seconds=300)


@pytest.mark.sec("SEC-11")
async def test_a_client_cannot_outlive_the_server_limits(
    engine: RefreshTokens, store: MemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    rt = await start(engine, absolute_seconds=10**8, idle_seconds=10**8)
    found = await store.get(digest_of(rt))
    assert found is not None
    assert (found[1].expires_at, found[0].expires_at) == (NOW + 7200, NOW + 3600)
    clock.advance(3000)
    rt = (await engine.redeem(rt, client_id="app", meta=META, idle_seconds=10**8)).refresh_token
    successor = await store.get(digest_of(rt))
    assert successor is not None and successor[0].expires_at == NOW + 3000 + 3600  # the server's idle
    clock.advance(3500)
    rt = (await engine.redeem(rt, client_id="app", meta=META, idle_seconds=10**8)).refresh_token
    successor = await store.get(digest_of(rt))
    assert successor is not None and successor[0].expires_at == NOW + 7200  # the family's end
    clock.advance(701)
    with pytest.raises(InvalidGrant):
        await engine.redeem(rt, client_id="app", meta=META)


# ---------------------------------------------------------------------------------------- the hook


@pytest.mark.sec("SEC-35")
async def test_reuse_detection_tells_the_hook_once(
    engine: RefreshTokens, clock: FrozenClock, told: Told
) -> None:
    rt1 = await start(engine)
    await engine.redeem(rt1, client_id="app", meta=META)
    clock.advance(11)
    for _ in range(2):
        with pytest.raises(InvalidGrant):
            await engine.redeem(rt1, client_id="app", meta=META)
    assert told.calls == [("g1", "reuse_detected")]


async def test_each_single_revocation_tells_the_hook(engine: RefreshTokens, told: Told) -> None:
    rt = await start(engine, "g1")
    await start(engine, "g2")
    assert await engine.revoke(rt, META) == "u1"
    assert await engine.revoke(rt, META) is None  # already revoked: nothing new to tell
    assert await engine.revoke_family("g2", reason="user_disabled")
    assert not await engine.revoke_family("g2", reason="user_disabled")
    assert told.calls == [("g1", "logout"), ("g2", "user_disabled")]


async def test_without_a_hook_revocations_work_as_before(
    store: MemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    engine = RefreshTokens(store, InstanceSecret(b"k" * 32), clock, Auditor(ListAudit(), clock))
    rt = await start(engine)
    assert await engine.revoke(rt, META) == "u1"


@pytest.mark.sec("SEC-12")
async def test_revoke_client_ends_that_clients_families(engine: RefreshTokens) -> None:
    mine = await start(engine, "g1")
    value, _ = await engine.start("u1", "other", "phone", "openid", NOW, family_id="g2")
    assert await engine.revoke_client("app", reason="client_disabled") == 1
    with pytest.raises(InvalidGrant):
        await engine.redeem(mine, client_id="app", meta=META)
    await engine.redeem(value, client_id="other", meta=META)
