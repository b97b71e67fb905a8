"""OIDC Core §5.3 with RFC 6750 §2–3: the UserInfo endpoint core (SEC-45)."""

from __future__ import annotations

import jwt
import pytest

from oauth2._support import form_request, service_client, web_client
from oauth_world import World, build_world, client_context, user, user_context
from ostiary.core.clock import FrozenClock
from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.minting import TokenSet
from ostiary.oauth2.requests import OAuthRequest
from ostiary.oidc.userinfo import UserInfoEndpoint

NOW = 1_800_000_000.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def world(clock: FrozenClock) -> World:
    clients = [
        web_client(),
        web_client(client_id="web-opaque", access_token_format="opaque"),
        service_client(),
    ]
    return await build_world(clock, clients, [user("u1", username="alice", email="alice@example.com")])


@pytest.fixture
def userinfo(world: World) -> UserInfoEndpoint:
    return UserInfoEndpoint(world.inspector, world.users)


async def mint(world: World, client_id: str = "web-app", **changes: object) -> TokenSet:
    client = await world.clients.get(client_id)
    assert client is not None
    return await world.minter.mint(user_context(client, grant_id=f"g-{client_id}", **changes))


def get(token: str | None = None, **kwargs: object) -> OAuthRequest:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return OAuthRequest(method="GET", headers={k.lower(): v for k, v in headers.items()}, **kwargs)  # type: ignore[arg-type]


def challenge(resp_headers: object) -> str:
    assert isinstance(resp_headers, dict)
    return str(resp_headers["WWW-Authenticate"])


@pytest.mark.sec("SEC-45")
@pytest.mark.rfc("OIDC Core §5.3.1, RFC 6750 §2.1")
@pytest.mark.parametrize("client_id", ["web-app", "web-opaque"])
async def test_get_with_the_header_answers_the_scoped_claims(
    world: World, userinfo: UserInfoEndpoint, client_id: str
) -> None:
    tokens = await mint(world, client_id, scope=("openid", "profile", "items:read"))
    resp = await userinfo.handle(get(tokens.access_token))
    assert resp.status == 200
    assert resp.body == {
        "sub": "u1",
        "preferred_username": "alice",
        "name": "alice",
        "updated_at": 1_700_000_123,
    }
    assert resp.headers["Cache-Control"] == "no-store"
    # sub is the ID token's sub (OIDC Core §5.3.2).
    assert tokens.id_token is not None
    assert jwt.decode(tokens.id_token, options={"verify_signature": False})["sub"] == resp.body["sub"]


@pytest.mark.sec("SEC-45")
@pytest.mark.rfc("RFC 6750 §2.1, §2.2")
async def test_post_with_the_header_or_the_form_body(world: World, userinfo: UserInfoEndpoint) -> None:
    tokens = await mint(world, scope=("openid", "email"))
    expected = {"sub": "u1", "email": "alice@example.com", "email_verified": True}
    header = form_request({}, headers={"Authorization": f"Bearer {tokens.access_token}"})
    body = form_request({"access_token": tokens.access_token})
    for request in (header, body):
        resp = await userinfo.handle(request)
        assert (resp.status, resp.body) == (200, expected)


@pytest.mark.sec("SEC-45")
@pytest.mark.rfc("RFC 6750 §3.1")
async def test_no_token_is_401_with_a_bare_bearer_challenge(userinfo: UserInfoEndpoint) -> None:
    resp = await userinfo.handle(get())
    assert resp.status == 401
    # §3.1: a request without any authentication gets no error code, only the challenge.
    assert challenge(resp.headers) == 'Bearer realm="ostiary"'


@pytest.mark.sec("SEC-45")
@pytest.mark.rfc("RFC 6750 §3.1")
async def test_invalid_tokens_are_401_invalid_token(
    world: World, userinfo: UserInfoEndpoint, clock: FrozenClock
) -> None:
    tokens = await mint(world)
    opaque = await mint(world, "web-opaque")
    assert tokens.id_token is not None and tokens.refresh_token is not None
    refused = {
        "garbage": "not-a-token",
        "an ID token": tokens.id_token,
        "a refresh token": tokens.refresh_token,
        "a tampered JWT": tokens.access_token[:-4]
        + ("AAAA" if not tokens.access_token.endswith("AAAA") else "BBBB"),
    }
    for name, token in refused.items():
        resp = await userinfo.handle(get(token))
        assert resp.status == 401, name
        assert resp.body["error"] == "invalid_token", name
        assert 'error="invalid_token"' in challenge(resp.headers)
    clock.advance(601)  # both access tokens have expired
    for token in (tokens.access_token, opaque.access_token):
        assert (await userinfo.handle(get(token))).status == 401


@pytest.mark.sec("SEC-45")
@pytest.mark.rfc("RFC 6750 §3.1")
async def test_a_token_without_openid_is_403_insufficient_scope(
    world: World, userinfo: UserInfoEndpoint
) -> None:
    tokens = await mint(world, scope=("items:read",))
    svc = await world.clients.get("svc")
    assert svc is not None
    machine = await world.minter.mint(client_context(svc))
    for token in (tokens.access_token, machine.access_token):
        resp = await userinfo.handle(get(token))
        assert resp.status == 403
        assert resp.body["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in challenge(resp.headers)


@pytest.mark.sec("SEC-45")
@pytest.mark.parametrize("client_id", ["web-app", "web-opaque"])
async def test_revoked_grants_and_disabled_users_are_invalid_token(
    world: World, userinfo: UserInfoEndpoint, client_id: str
) -> None:
    tokens = await mint(world, client_id)
    assert (await userinfo.handle(get(tokens.access_token))).status == 200
    world.users.disable("u1")
    assert (await userinfo.handle(get(tokens.access_token))).status == 401
    world.users.by_id["u1"] = user("u1")
    assert (await userinfo.handle(get(tokens.access_token))).status == 200
    await world.revoker.revoke_grant(f"g-{client_id}")
    assert (await userinfo.handle(get(tokens.access_token))).status == 401


@pytest.mark.rfc("RFC 6750 §2")
async def test_ambiguous_or_leaky_requests_are_400_invalid_request(
    world: World, userinfo: UserInfoEndpoint
) -> None:
    token = (await mint(world)).access_token
    requests = [
        form_request({"access_token": token}, headers={"Authorization": f"Bearer {token}"}),
        form_request({"access_token": [token, token]}),
        get(query={"access_token": [token]}),
        OAuthRequest(method="GET", headers={"authorization": f"Basic {token}"}),
        OAuthRequest(method="DELETE", headers={"authorization": f"Bearer {token}"}),
    ]
    for request in requests:
        resp = await userinfo.handle(request)
        assert (resp.status, resp.body["error"]) == (400, "invalid_request")


async def test_the_form_body_is_read_only_from_a_form_post(world: World, userinfo: UserInfoEndpoint) -> None:
    token = (await mint(world)).access_token
    json_post = form_request({"access_token": token}, content_type="application/json")
    assert (await userinfo.handle(json_post)).status == 401


async def test_an_unreachable_store_is_503_not_a_crash(world: World) -> None:
    class Down:
        async def get(self, user_id: str) -> None:
            raise StoreUnavailable()

    token = (await mint(world)).access_token
    resp = await UserInfoEndpoint(world.inspector, Down()).handle(get(token))  # type: ignore[arg-type]
    assert resp.status == 503
