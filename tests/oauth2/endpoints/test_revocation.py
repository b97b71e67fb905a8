"""RFC 7009: the revocation endpoint over the real minter, revoker and inspector (SEC-36, SEC-69)."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_world import World, build_world, user_context
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.endpoints.revocation import RevocableToken, RevocationEndpoint
from ostiary.oauth2.minting import TokenSet
from ostiary.oauth2.requests import OAuthRequest
from ostiary.tokens.refresh import InvalidGrant as RefreshInvalidGrant

from .._support import (
    HASHER,
    SVC_SECRET,
    WEB_SECRET,
    basic,
    form_request,
    native_client,
    service_client,
    web_client,
)

NOW = 1_800_000_000.0
META = RequestMeta(ip="192.0.2.1", user_agent="test")


@pytest.fixture
async def world() -> World:
    clients = [
        web_client(),
        web_client(client_id="web-opaque", access_token_format="opaque"),
        native_client(grant_types=("authorization_code", "refresh_token")),
        service_client(scopes=("items:read", "introspection")),
    ]
    return await build_world(FrozenClock(NOW), clients)


@pytest.fixture
def endpoint(world: World) -> RevocationEndpoint:
    return RevocationEndpoint(world.authenticator(HASHER), world.inspector, world.revoker)


async def mint(world: World, client_id: str = "web-app", grant_id: str = "g-1", **changes: Any) -> TokenSet:
    found = await world.clients.get(client_id)
    assert found is not None
    return await world.minter.mint(user_context(found, grant_id, **changes))


def revoke(
    token: str | list[str], client_id: str = "web-app", secret: str = WEB_SECRET, **extra: Any
) -> OAuthRequest:
    return form_request({"token": token, **extra}, headers={"Authorization": basic(client_id, secret)})


async def active(world: World, token: str | None) -> bool:
    assert token is not None
    return await world.inspector.inspect(token) is not None


async def refreshes(world: World, tokens: TokenSet, client_id: str = "web-app") -> bool:
    assert tokens.refresh_token is not None
    try:
        await world.refresh.redeem(tokens.refresh_token, client_id=client_id, meta=META)
    except RefreshInvalidGrant:
        return False
    return True


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7009 §2.1")
@pytest.mark.parametrize("client_id", ["web-app", "web-opaque"])
async def test_rfc7009_2_1_revoking_a_refresh_token_kills_the_grant(
    world: World, endpoint: RevocationEndpoint, client_id: str
) -> None:
    tokens = await mint(world, client_id)
    other = await mint(world, client_id, grant_id="g-2")
    resp = await endpoint.handle(
        revoke(tokens.refresh_token or "", client_id, token_type_hint="refresh_token")
    )
    assert (resp.status, resp.body) == (200, {})
    assert resp.headers["Cache-Control"] == "no-store"
    assert not await refreshes(world, tokens, client_id)
    assert not await active(world, tokens.access_token)  # the grant's access tokens introspect inactive
    assert await active(world, other.access_token) and await refreshes(world, other, client_id)


@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_revoking_an_opaque_access_token_revokes_that_token(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world, "web-opaque")
    assert (await endpoint.handle(revoke(tokens.access_token, "web-opaque"))).status == 200
    assert not await active(world, tokens.access_token)
    assert await refreshes(world, tokens, "web-opaque")  # §2.1: revoking the refresh token is a MAY


@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_revoking_a_jwt_access_token_revokes_its_grant(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world)
    assert (await endpoint.handle(revoke(tokens.access_token))).status == 200
    assert not await active(world, tokens.access_token)
    assert not await refreshes(world, tokens)


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7009 §2.2")
async def test_rfc7009_2_2_unknown_and_garbage_tokens_are_200(endpoint: RevocationEndpoint) -> None:
    for token in ("garbage", "oat_unknown", "ort_unknown", "a.b.c", "x" * 9000):
        resp = await endpoint.handle(revoke(token))
        assert (resp.status, resp.body) == (200, {}), token


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_another_clients_token_is_left_alone_but_still_200(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world, "web-opaque")
    jwt_tokens = await mint(world, "web-app", grant_id="g-jwt")
    for token in (tokens.access_token, tokens.refresh_token or ""):
        resp = await endpoint.handle(revoke(token, "web-app"))
        assert (resp.status, resp.body) == (200, {})
    # Even a client allowed to introspect everything may revoke only its own tokens.
    assert (await endpoint.handle(revoke(jwt_tokens.access_token, "svc", SVC_SECRET))).status == 200
    assert await active(world, tokens.access_token) and await active(world, jwt_tokens.access_token)
    assert await refreshes(world, tokens, "web-opaque")


@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_a_public_client_identifies_itself_by_client_id(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world, "cli", scope=("openid", "offline_access", "items:read"))
    resp = await endpoint.handle(form_request({"token": tokens.refresh_token or "", "client_id": "cli"}))
    assert resp.status == 200
    assert not await refreshes(world, tokens, "cli")


@pytest.mark.rfc("RFC 7009 §2.1")
@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "bogus_type"])
async def test_rfc7009_2_1_a_wrong_or_invalid_hint_is_ignored(
    world: World, endpoint: RevocationEndpoint, hint: str
) -> None:
    tokens = await mint(world)
    resp = await endpoint.handle(revoke(tokens.refresh_token or "", token_type_hint=hint))
    assert resp.status == 200  # never unsupported_token_type: every kind we issue is revocable
    assert not await refreshes(world, tokens)


@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_revoking_a_rotated_refresh_token_still_ends_its_family(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world)
    assert tokens.refresh_token is not None
    rotation = await world.refresh.redeem(tokens.refresh_token, client_id="web-app", meta=META)
    assert (await endpoint.handle(revoke(tokens.refresh_token))).status == 200
    assert not await active(world, rotation.refresh_token)


@pytest.mark.rfc("RFC 7009 §2.2.1")
async def test_rfc7009_2_2_1_failed_client_authentication_is_401(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world)
    for request in (
        form_request({"token": tokens.access_token}),
        revoke(tokens.access_token, "web-app", "wrong"),
        form_request({"token": tokens.access_token, "client_id": "web-app"}),  # confidential, no secret
    ):
        resp = await endpoint.handle(request)
        assert (resp.status, resp.body["error"]) == (401, "invalid_client")
    assert await active(world, tokens.access_token)


@pytest.mark.sec("SEC-69")
@pytest.mark.rfc("RFC 7009 §2.1")
async def test_rfc7009_2_1_malformed_requests_are_invalid_request(
    world: World, endpoint: RevocationEndpoint
) -> None:
    tokens = await mint(world)
    auth = {"Authorization": basic("web-app", WEB_SECRET)}
    for request in (
        revoke([tokens.access_token, "other"]),
        form_request({"token": tokens.access_token}, headers=auth, query={"token": tokens.access_token}),
        form_request({}, headers=auth),
        form_request({"token": tokens.access_token}, headers=auth, content_type="application/json"),
        form_request({"token": tokens.access_token}, headers=auth, method="GET"),
    ):
        resp = await endpoint.handle(request)
        assert (resp.status, resp.body["error"]) == (400, "invalid_request")
    assert await active(world, tokens.access_token)


@pytest.mark.rfc("RFC 7009 §2.2.1")
async def test_rfc7009_2_2_1_an_unreachable_store_is_503_so_the_client_retries(world: World) -> None:
    class Down:
        async def revoke_token(self, token: RevocableToken) -> None:
            raise StoreUnavailable()

    tokens = await mint(world)
    endpoint = RevocationEndpoint(world.authenticator(HASHER), world.inspector, Down())
    resp = await endpoint.handle(revoke(tokens.access_token))
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
