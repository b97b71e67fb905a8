"""The OAuth token side, wired as compose wires it: refresh-token reuse ends the grant's access
tokens, per-client refresh lifetimes, and a disabled client's tokens (SEC-11, SEC-12, SEC-29, SEC-35)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from oauth2._support import service_client, web_client
from oauth_world import World, build_world, client_context, user_context
from ostiary.compose.client_cache import CachedClientStore
from ostiary.compose.oauth_tokens import GRANT_REVOKED
from ostiary.compose.token_inspector import ClientStatus
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.oauth2.errors import InvalidGrant as OAuthInvalidGrant
from ostiary.oauth2.minting import TokenSet
from ostiary.storage.interfaces.oauth_clients import ClientLifetimes
from ostiary.tokens.refresh import InvalidGrant, digest_of
from ostiary.tokens.service import FIRST_PARTY_CLIENT

NOW = 1_800_000_000.0
META = RequestMeta(ip="192.0.2.1", user_agent="test")
FORMATS = ["jwt", "opaque"]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    world = await build_world(
        clock,
        [
            web_client(),
            web_client(client_id="web-opaque", access_token_format="opaque"),
            web_client(
                client_id="short", lifetimes=ClientLifetimes(refresh_token=1000, refresh_token_idle=300)
            ),
            web_client(
                client_id="long", lifetimes=ClientLifetimes(refresh_token=10**8, refresh_token_idle=10**8)
            ),
            service_client(),
            service_client(client_id="svc-opaque", access_token_format="opaque"),
        ],
    )
    # As compose/oauth.py wires them: the revoker listens to the refresh engine, and the inspector
    # checks the client of every token.
    world.refresh.on_family_revoked = world.revoker.family_revoked
    world.inspector.clients = ClientStatus(CachedClientStore(world.clients, clock))
    return world


def web_id(fmt: str) -> str:
    return "web-app" if fmt == "jwt" else "web-opaque"


async def mint(world: World, client_id: str, grant_id: str = "g-1") -> TokenSet:
    client = await world.clients.get(client_id)
    assert client is not None
    return await world.minter.mint(user_context(client, grant_id))


async def disable(world: World, client_id: str) -> None:
    client = await world.clients.get(client_id)
    assert client is not None
    await world.clients.update(replace(client, disabled=True))


# ------------------------------------------------------------------------ refresh-token reuse


@pytest.mark.sec("SEC-35")
@pytest.mark.sec("SEC-29")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_refresh_token_reuse_ends_the_access_tokens_of_the_family(
    world: World, clock: FrozenClock, fmt: str
) -> None:
    tokens = await mint(world, web_id(fmt))
    assert tokens.refresh_token is not None
    rotation = await world.refresh.redeem(tokens.refresh_token, client_id=web_id(fmt), meta=META)
    successor = await world.minter.mint(
        user_context(await _client(world, web_id(fmt)), "g-1", rotated_refresh_token=rotation.refresh_token)
    )
    other = await mint(world, web_id(fmt), "g-2")
    assert await world.inspector.inspect(tokens.access_token) is not None
    clock.advance(11)  # outside the retry window: the old token again is theft
    with pytest.raises(InvalidGrant):
        await world.refresh.redeem(tokens.refresh_token, client_id=web_id(fmt), meta=META)
    for token in (tokens.access_token, successor.access_token, rotation.refresh_token):
        assert await world.inspector.inspect(token) is None
    assert await world.revoked.is_revoked("g-1")
    assert await world.inspector.inspect(other.access_token) is not None  # another grant lives on
    # Nothing new for the grant either, should a mint race the revocation (the SEC-29 re-check).
    with pytest.raises(OAuthInvalidGrant):
        await world.minter.mint(user_context(await _client(world, web_id(fmt)), "g-1"))


async def _client(world: World, client_id: str) -> Any:
    client = await world.clients.get(client_id)
    assert client is not None
    return client


@pytest.mark.sec("SEC-35")
async def test_a_family_mark_is_remembered_as_long_as_an_access_token_lives(
    world: World, clock: FrozenClock
) -> None:
    await world.revoker.family_revoked("g-9", "reuse_detected")
    clock.advance(3600)
    assert await world.revoked.is_revoked("g-9")
    clock.advance(61)
    assert not await world.revoked.is_revoked("g-9")


async def test_a_grant_revocation_is_not_marked_twice(world: World) -> None:
    """`revoke_grant` revokes the family with its own reason: the hook leaves the rest to it."""
    await world.revoker.family_revoked("g-9", GRANT_REVOKED)
    assert not await world.revoked.is_revoked("g-9")
    tokens = await mint(world, "web-app")
    await world.revoker.revoke_grant("g-1")
    assert await world.inspector.inspect(tokens.access_token) is None


# -------------------------------------------------------------------------- refresh lifetimes


@pytest.mark.sec("SEC-11")
async def test_refresh_families_take_the_clients_lifetimes_within_the_servers(world: World) -> None:
    short = await mint(world, "short", "g-short")
    long = await mint(world, "long", "g-long")
    expiries = {}
    for tokens in (short, long):
        assert tokens.refresh_token is not None
        found = await world.refresh_store.get(digest_of(tokens.refresh_token))
        assert found is not None
        expiries[found[1].client_id] = (found[1].expires_at - NOW, found[0].expires_at - NOW)
    # The world's server limits: 7200 s absolute, 3600 s idle.
    assert expiries == {"short": (1000, 300), "long": (7200, 3600)}


# ---------------------------------------------------------------------------- disabled clients


@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_disabled_clients_tokens_are_inactive(world: World, fmt: str) -> None:
    tokens = await mint(world, web_id(fmt))
    service = await world.minter.mint(
        client_context(await _client(world, "svc" if fmt == "jwt" else "svc-opaque"))
    )
    other = await mint(world, "short", "g-3")
    await disable(world, web_id(fmt))
    await disable(world, "svc" if fmt == "jwt" else "svc-opaque")
    assert world.inspector.clients is not None
    world.inspector.clients.forget(web_id(fmt))
    world.inspector.clients.forget("svc" if fmt == "jwt" else "svc-opaque")
    assert tokens.refresh_token is not None
    for token in (tokens.access_token, tokens.refresh_token, service.access_token):
        assert await world.inspector.inspect(token) is None
    assert await world.inspector.inspect(other.access_token) is not None


@pytest.mark.sec("SEC-12")
async def test_disabling_revokes_for_good(world: World) -> None:
    """Enabled again, the client's earlier refresh tokens and opaque tokens stay dead."""
    tokens = await mint(world, "web-opaque")
    other = await mint(world, "web-app", "g-2")
    assert await world.revoker.revoke_client("web-opaque") == (1, 1)
    assert tokens.refresh_token is not None
    with pytest.raises(InvalidGrant):
        await world.refresh.redeem(tokens.refresh_token, client_id="web-opaque", meta=META)
    assert await world.inspector.inspect(tokens.access_token) is None
    assert await world.inspector.inspect(other.access_token) is not None
    assert other.refresh_token is not None
    await world.refresh.redeem(other.refresh_token, client_id="web-app", meta=META)


@pytest.mark.sec("SEC-12")
async def test_the_client_check_is_cached_for_a_second(world: World, clock: FrozenClock) -> None:
    tokens = await mint(world, "web-app")
    assert await world.inspector.inspect(tokens.access_token) is not None
    await disable(world, "web-app")
    assert await world.inspector.inspect(tokens.access_token) is not None  # this worker's cache
    clock.advance(1)
    assert await world.inspector.inspect(tokens.access_token) is None


async def test_client_status_answers(clock: FrozenClock, world: World) -> None:
    reads: list[str] = []

    class CountingClients:
        async def get(self, client_id: str) -> Any:
            reads.append(client_id)
            return await world.clients.get(client_id)

    cache = CachedClientStore(CountingClients(), clock, ttl=1.0, size=2)  # type: ignore[arg-type]
    status = ClientStatus(cache)
    assert await status.usable("web-app") is True
    assert await status.usable("web-app") is True
    assert reads == ["web-app"]  # answered from the cache
    assert await status.usable("nobody") is False  # unknown: fail closed
    assert await status.usable(FIRST_PARTY_CLIENT) is True  # the first-party API is no registered client
    assert len(cache._entries) == 2  # bounded
    assert await status.usable("web-app") is True
    assert reads == ["web-app", "nobody", FIRST_PARTY_CLIENT, "web-app"]  # the oldest was dropped
