"""RFC 7662: the introspection endpoint over the real minter and inspector (SEC-36, SEC-40, SEC-69)."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_world import World, build_world, client_context, user_context
from ostiary.core.clock import FrozenClock
from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.endpoints.introspection import IntrospectionEndpoint
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.minting import TokenSet
from ostiary.oauth2.requests import OAuthRequest

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
RS_SECRET = "rs-secret-" + "z" * 40


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    clients = [
        web_client(),
        web_client(client_id="web-opaque", access_token_format="opaque"),
        native_client(),
        service_client(),
        # A resource server: registered with the `introspection` scope, so it may see any access token.
        service_client(client_id="rs", secret_digest=HASHER.digest(RS_SECRET), scopes=("introspection",)),
    ]
    return await build_world(clock, clients)


@pytest.fixture
def endpoint(world: World) -> IntrospectionEndpoint:
    return IntrospectionEndpoint(world.authenticator(HASHER), world.inspector)


async def mint(world: World, client_id: str = "web-app", grant_id: str = "g-1", **changes: Any) -> TokenSet:
    found = await world.clients.get(client_id)
    assert found is not None
    return await world.minter.mint(user_context(found, grant_id, **changes))


def ask(
    token: str | list[str], client_id: str = "web-app", secret: str = WEB_SECRET, **extra: Any
) -> OAuthRequest:
    return form_request({"token": token, **extra}, headers={"Authorization": basic(client_id, secret)})


def assert_no_store(resp: TokenResponse) -> None:
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7662 §2.2")
@pytest.mark.parametrize("client_id", ["web-app", "web-opaque"])
async def test_rfc7662_2_2_an_active_token_of_the_caller(
    world: World, endpoint: IntrospectionEndpoint, client_id: str
) -> None:
    tokens = await mint(world, client_id)
    resp = await endpoint.handle(ask(tokens.access_token, client_id))
    assert resp.status == 200
    assert_no_store(resp)
    body = resp.body
    assert body["active"] is True and body["client_id"] == client_id and body["sub"] == "u1"
    assert body["scope"] == "openid profile offline_access items:read" and body["token_type"] == "Bearer"
    assert body["exp"] == int(NOW) + 600 and body["iat"] == int(NOW)
    assert body["username"] == "name-u1" and body["iss"] == "https://id.example.com"


@pytest.mark.rfc("RFC 7662 §2.2")
async def test_rfc7662_2_2_refresh_tokens_introspect_as_refresh_tokens(
    world: World, endpoint: IntrospectionEndpoint
) -> None:
    tokens = await mint(world)
    assert tokens.refresh_token is not None
    body = (await endpoint.handle(ask(tokens.refresh_token, token_type_hint="refresh_token"))).body
    assert body["active"] is True and body["token_type"] == "refresh_token" and "aud" not in body


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7662 §2.2")
async def test_rfc7662_2_2_revoked_expired_or_garbage_tokens_are_exactly_inactive(
    world: World, endpoint: IntrospectionEndpoint, clock: FrozenClock
) -> None:
    revoked = await mint(world, grant_id="g-revoked")
    await world.revoker.revoke_grant("g-revoked")
    opaque = await mint(world, "web-opaque", grant_id="g-op")
    expiring = await mint(world, grant_id="g-2")
    assert revoked.refresh_token is not None
    for token in (revoked.access_token, revoked.refresh_token, "garbage", "oat_x", "ort_x", "a.b.c"):
        resp = await endpoint.handle(ask(token))
        assert (resp.status, resp.body) == (200, {"active": False}), token
        assert_no_store(resp)
    clock.advance(600)
    assert (await endpoint.handle(ask(expiring.access_token))).body == {"active": False}
    assert (await endpoint.handle(ask(opaque.access_token, "web-opaque"))).body == {"active": False}


@pytest.mark.rfc("RFC 7662 §4")
async def test_rfc7662_4_another_clients_token_is_inactive_to_an_ordinary_client(
    world: World, endpoint: IntrospectionEndpoint
) -> None:
    tokens = await mint(world, "web-opaque")
    resp = await endpoint.handle(ask(tokens.access_token, "web-app"))
    assert resp.body == {"active": False}
    svc = await endpoint.handle(ask(tokens.access_token, "svc", SVC_SECRET))
    assert svc.body == {"active": False}


@pytest.mark.rfc("RFC 7662 §4")
async def test_rfc7662_4_a_resource_server_with_the_introspection_scope_sees_access_tokens_only(
    world: World, endpoint: IntrospectionEndpoint
) -> None:
    user_tokens = await mint(world, "web-opaque")
    svc = await world.clients.get("svc")
    assert svc is not None
    machine = await world.minter.mint(client_context(svc))
    for token, client_id in ((user_tokens.access_token, "web-opaque"), (machine.access_token, "svc")):
        body = (await endpoint.handle(ask(token, "rs", RS_SECRET))).body
        assert body["active"] is True and body["client_id"] == client_id
    assert (await endpoint.handle(ask(machine.access_token, "rs", RS_SECRET))).body["sub"] == "client:svc"
    assert user_tokens.refresh_token is not None
    refresh = await endpoint.handle(ask(user_tokens.refresh_token, "rs", RS_SECRET))
    assert refresh.body == {"active": False}


@pytest.mark.sec("SEC-36")
@pytest.mark.rfc("RFC 7662 §2.1")
async def test_rfc7662_2_1_unauthenticated_callers_are_401(
    world: World, endpoint: IntrospectionEndpoint
) -> None:
    tokens = await mint(world, "cli")
    cases = {
        "no credentials": form_request({"token": tokens.access_token}),
        "wrong secret": ask(tokens.access_token, "web-app", "wrong"),
        "unknown client": ask(tokens.access_token, "nobody", "x"),
        "a public client, even about its own token": form_request(
            {"token": tokens.access_token, "client_id": "cli"}
        ),
    }
    for name, request in cases.items():
        resp = await endpoint.handle(request)
        assert (resp.status, resp.body["error"]) == (401, "invalid_client"), name
        assert resp.headers["WWW-Authenticate"].startswith("Basic"), name
        assert "active" not in resp.body


@pytest.mark.sec("SEC-69")
@pytest.mark.rfc("RFC 7662 §2.1")
async def test_rfc7662_2_1_malformed_requests_are_invalid_request(
    world: World, endpoint: IntrospectionEndpoint
) -> None:
    token = (await mint(world)).access_token
    auth = {"Authorization": basic("web-app", WEB_SECRET)}
    cases = {
        "repeated token": ask([token, "other"]),
        "token in query and body": form_request({"token": token}, headers=auth, query={"token": token}),
        "missing token": form_request({}, headers=auth),
        "JSON body": form_request({"token": token}, headers=auth, content_type="application/json"),
        "GET": form_request({"token": token}, headers=auth, method="GET"),
    }
    for name, request in cases.items():
        resp = await endpoint.handle(request)
        assert (resp.status, resp.body["error"]) == (400, "invalid_request"), name
        assert_no_store(resp)


@pytest.mark.rfc("RFC 7662 §2.1")
async def test_rfc7662_2_1_an_unknown_hint_is_ignored(world: World, endpoint: IntrospectionEndpoint) -> None:
    tokens = await mint(world)
    for hint in ("refresh_token", "unknown_kind"):
        assert (await endpoint.handle(ask(tokens.access_token, token_type_hint=hint))).body["active"] is True


async def test_an_unreachable_store_is_503_never_active(world: World) -> None:
    class Down:
        async def inspect(self, token: str, token_type_hint: str | None = None) -> None:
            raise StoreUnavailable()

    resp = await IntrospectionEndpoint(world.authenticator(HASHER), Down()).handle(ask("oat_x"))
    assert resp.status == 503 and resp.body["error"] == "temporarily_unavailable"
    assert_no_store(resp)
