"""Not-before revocation (compose/not_before.py): introspection refuses access tokens issued before
the user's or the client's `tokens_not_before` — JWT and opaque — and the boundary is decided to the
millisecond, so a token minted in the same second just after a revocation lives and one minted just
before it does not (SEC-12, SEC-04)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
import pytest

from oauth2._support import service_client, web_client
from oauth_world import World, build_world, client_context, user_context
from ostiary.compose.client_cache import CachedClientStore
from ostiary.compose.not_before import UserTokenRevoker, issued_before, jwt_issued_ms
from ostiary.compose.token_inspector import ClientStatus
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.tokens.refresh import InvalidGrant as RefreshInvalidGrant

T0 = 1_800_000_000.0  # a whole second: T0 + 0.x stays in it
META = RequestMeta(ip="192.0.2.1", user_agent="test")
FORMATS = ["jwt", "opaque"]


class CountingClients(MemoryClientStore):
    def __init__(self, clients: list[Any]) -> None:
        super().__init__(clients)
        self.reads = 0

    async def get(self, client_id: str) -> Any:
        self.reads += 1
        return await super().get(client_id)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    clients = [
        web_client(),
        web_client(client_id="web-opaque", access_token_format="opaque"),
        service_client(),
        service_client(client_id="svc-opaque", access_token_format="opaque"),
    ]
    world = await build_world(clock, clients)
    # As compose wires it: the client's state comes from the ~1 s client cache.
    world.inspector.clients = ClientStatus(CachedClientStore(world.clients, clock))
    return world


def web_id(fmt: str) -> str:
    return "web-app" if fmt == "jwt" else "web-opaque"


async def mint_for_user(world: World, fmt: str, grant_id: str) -> Any:
    client = await world.clients.get(web_id(fmt))
    assert client is not None
    return await world.minter.mint(user_context(client, grant_id=grant_id))


async def mint_for_client(world: World, client_id: str, grant_id: str) -> str:
    client = await world.clients.get(client_id)
    assert client is not None
    return (await world.minter.mint(client_context(client, grant_id=grant_id))).access_token


async def active(world: World, token: str) -> bool:
    return await world.inspector.inspect(token) is not None


# ------------------------------------------------------------------------------------ the boundary


def test_the_boundary_is_the_millisecond() -> None:
    nb = T0 + 0.5
    assert not issued_before(999, None)
    assert issued_before(int(T0 * 1000) + 499, nb)  # a millisecond before: refused
    assert not issued_before(int(T0 * 1000) + 500, nb)  # the same millisecond: kept
    assert not issued_before(int(T0 * 1000) + 501, nb)


def test_jwt_issue_instant_is_iat_ms_or_the_start_of_the_iat_second() -> None:
    second = int(T0)
    assert jwt_issued_ms({"iat": second, "iat_ms": second * 1000 + 734}) == second * 1000 + 734
    # Missing, or not agreeing with `iat` (never ours): the earliest instant `iat` allows.
    assert jwt_issued_ms({"iat": second}) == second * 1000
    assert jwt_issued_ms({"iat": second, "iat_ms": second * 1000 + 1000}) == second * 1000
    assert jwt_issued_ms({"iat": second, "iat_ms": second * 1000 - 1}) == second * 1000
    assert jwt_issued_ms({"iat": second, "iat_ms": True}) == second * 1000
    assert jwt_issued_ms({"iat": second, "iat_ms": float(second * 1000 + 5)}) == second * 1000


# ------------------------------------------------------------------------------------------ users


@pytest.mark.sec("SEC-04")
@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_bulk_revocation_ends_the_users_access_tokens_of_every_grant(
    world: World, clock: FrozenClock, fmt: str
) -> None:
    before = await mint_for_user(world, fmt, "g-before")  # all in the second T0: `iat` cannot tell
    clock.advance(0.2)
    also_before = (await mint_for_user(world, fmt, "g-before-2")).access_token
    clock.advance(0.2)
    revoker = UserTokenRevoker(world.users, world.refresh, clock)
    assert await revoker.revoke_user("u1", reason="password_change") == 2  # the two families
    assert world.users.by_id["u1"].tokens_not_before == T0 + 0.4
    clock.advance(0.2)
    after = await mint_for_user(world, fmt, "g-after")  # T0 + 0.6: same `iat` second, after it

    assert not await active(world, before.access_token)
    assert not await active(world, also_before)
    assert not await active(world, before.refresh_token)
    assert await active(world, after.access_token)
    assert await active(world, after.refresh_token)
    # Refresh redemption: the old family is dead (revoked with the not-before), the new one works.
    with pytest.raises(RefreshInvalidGrant):
        await world.refresh.redeem(before.refresh_token, client_id=web_id(fmt), meta=META)
    assert (await world.refresh.redeem(after.refresh_token, client_id=web_id(fmt), meta=META)).family
    # Another user's tokens are untouched.
    client = await world.clients.get(web_id(fmt))
    assert client is not None
    other = await world.minter.mint(user_context(client, grant_id="g-u2", subject="u2", user_id="u2"))
    assert await active(world, other.access_token)


@pytest.mark.sec("SEC-12")
async def test_a_token_minted_in_the_revocations_millisecond_lives(world: World, clock: FrozenClock) -> None:
    clock.advance(0.3)
    await UserTokenRevoker(world.users, world.refresh, clock).revoke_user("u1", reason="lockout")
    same_instant = await mint_for_user(world, "jwt", "g-same")
    assert await active(world, same_instant.access_token)
    clock.advance(-0.001)  # a clock read one millisecond earlier: before the revocation
    earlier = await mint_for_user(world, "jwt", "g-earlier")
    clock.advance(0.001)
    assert not await active(world, earlier.access_token)


@pytest.mark.sec("SEC-12")
async def test_a_jwt_without_iat_ms_in_the_revocations_second_is_refused(
    world: World, clock: FrozenClock
) -> None:
    """An older release's token cannot be placed inside its second: it is refused (fail closed)."""

    def legacy(token: str) -> str:
        claims = jwt.decode(token, options={"verify_signature": False})
        claims.pop("iat_ms")
        key = world.keys.ring().signing_key_for("ES256")
        return jwt.encode(
            claims, key.private_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": key.kid}
        )

    clock.advance(0.3)
    await UserTokenRevoker(world.users, world.refresh, clock).revoke_user("u1", reason="user_disabled")
    clock.advance(0.3)
    same_second = legacy((await mint_for_user(world, "jwt", "g-1")).access_token)
    assert not await active(world, same_second)
    clock.advance(1)
    next_second = legacy((await mint_for_user(world, "jwt", "g-2")).access_token)
    assert await active(world, next_second)


# ---------------------------------------------------------------------------------------- clients


@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("client_id", ["svc", "svc-opaque"])
async def test_the_clients_not_before_ends_its_earlier_access_tokens_only(
    world: World, clock: FrozenClock, client_id: str
) -> None:
    old = await mint_for_client(world, client_id, "cc-old")
    clock.advance(0.4)
    stored = await world.clients.get(client_id)
    assert stored is not None
    await world.clients.update(replace(stored, tokens_not_before=clock.now()))
    assert world.inspector.clients is not None
    world.inspector.clients.forget(client_id)  # what the registry's hook does in this process
    clock.advance(0.1)
    new = await mint_for_client(world, client_id, "cc-new")  # the same second
    assert not await active(world, old)
    assert await active(world, new)
    assert await active(
        world, await mint_for_client(world, "svc" if client_id != "svc" else "svc-opaque", "x")
    )


@pytest.mark.sec("SEC-12")
async def test_the_client_check_reads_the_client_cache_not_the_store(clock: FrozenClock) -> None:
    store = CountingClients([service_client()])
    world = await build_world(clock, [service_client()])
    world.inspector.clients = ClientStatus(CachedClientStore(store, clock))
    token = await mint_for_client(world, "svc", "cc-1")
    for _ in range(5):
        assert await active(world, token)
    assert store.reads == 1  # within the cache's second: one read for five introspections
